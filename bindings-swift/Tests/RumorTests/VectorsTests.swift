// The shared wire vectors (tests/vectors/wire.json, read by every implementation's tests)
// through the Swift binding: decoded to exactly the described messages, encoded to exactly the
// bytes, errors by the core's names.
import Foundation
import Rumor
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

nonisolated(unsafe) private let vectors: [String: Any] = {
    let url = repoRoot.appendingPathComponent("tests/vectors/wire.json")
    let data = try! Data(contentsOf: url)
    return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
}()

private func list(_ key: String) -> [[String: Any]] { vectors[key] as! [[String: Any]] }

private func hex(_ text: String) -> Data {
    var data = Data()
    var i = text.startIndex
    while i < text.endIndex {
        let j = text.index(i, offsetBy: 2)
        data.append(UInt8(text[i..<j], radix: 16)!)
        i = j
    }
    return data
}

private func hexString(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }

private let keys: [String: Data] = (vectors["keys"] as! [String: [String: Any]]).mapValues { hex($0["key"] as! String) }

/// The vectors' address object as the binding's `ip:port` text.
private func addrText(_ a: [String: Any]) -> String {
    let octets = hex(a["octets"] as! String)
    let port = a["port"] as! Int
    var buf = [CChar](repeating: 0, count: 64)
    let family = (a["type"] as! String) == "V4" ? AF_INET : AF_INET6
    _ = octets.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &buf, socklen_t(buf.count)) }
    let ip = String(cString: buf)
    return family == AF_INET ? "\(ip):\(port)" : "[\(ip)]:\(port)"
}

/// `ip:port` text as (octets, port), so two spellings of one address compare equal.
private func addrKey(_ text: String) -> String {
    let (host, port) = text.hasPrefix("[")
        ? (String(text.dropFirst().prefix { $0 != "]" }), String(text.split(separator: ":").last!))
        : (String(text.split(separator: ":").first!), String(text.split(separator: ":").last!))
    var buf = [UInt8](repeating: 0, count: 16)
    let family = text.hasPrefix("[") ? AF_INET6 : AF_INET
    XCTAssertEqual(inet_pton(family, host, &buf), 1, "\(text) is an address")
    return hexString(Data(buf.prefix(family == AF_INET ? 4 : 16))) + ":" + port
}

/// A vector message as the binding's `WireMessage`.
private func message(_ m: [String: Any]) -> WireMessage {
    let u32 = { (k: String) in UInt32(m[k] as! Int) }
    let s = { (k: String) in m[k] as! String }
    switch m["type"] as! String {
    case "Ping": return .ping(seq: u32("seq"), target: s("target"))
    case "Ack": return .ack(seq: u32("seq"))
    case "Nack": return .nack(seq: u32("seq"))
    case "PingReq":
        return .pingReq(seq: u32("seq"), target: s("target"), addr: addrText(m["addr"] as! [String: Any]), nack: m["nack"] as! Bool)
    case "Alive":
        return .alive(
            name: s("name"), incarnation: u32("incarnation"), addr: addrText(m["addr"] as! [String: Any]), meta: hex(s("meta")))
    case "Suspect": return .suspect(name: s("name"), incarnation: u32("incarnation"), from: s("from"))
    case "Dead": return .dead(name: s("name"), incarnation: u32("incarnation"), from: s("from"))
    case "Left": return .left(name: s("name"), incarnation: u32("incarnation"))
    case "User": return .user(origin: s("origin"), id: UInt64(s("id"))!, payload: hex(s("payload")))
    case "Sync": return .sync(from: s("from"), reply: m["reply"] as! Bool)
    case "Digest": return .digest(from: s("from"), digest: UInt64(s("digest"))!, members: u32("members"))
    case let other: fatalError("unknown vector message type \(other)")
    }
}

/// A message with its addresses normalised (for comparing decoded with described).
private func normal(_ m: WireMessage) -> WireMessage {
    switch m {
    case .pingReq(let seq, let target, let addr, let nack): .pingReq(seq: seq, target: target, addr: addrKey(addr), nack: nack)
    case .alive(let name, let inc, let addr, let meta): .alive(name: name, incarnation: inc, addr: addrKey(addr), meta: meta)
    default: m
    }
}

final class VectorsTests: XCTestCase {
    func testMessagesAndBodiesRoundTrip() throws {
        let cases = list("messages").map { ($0["name"] as! String, [$0["message"] as! [String: Any]], $0["hex"] as! String) }
            + list("bodies").map { ($0["name"] as! String, $0["messages"] as! [[String: Any]], $0["hex"] as! String) }
        XCTAssertGreaterThan(cases.count, 20)
        for (name, described, bytes) in cases {
            let expected = described.map(message)
            XCTAssertEqual(try Wire.encodeBody(expected), hex(bytes), name)
            let decoded = try Wire.decodeBody(hex(bytes))
            XCTAssertEqual(decoded.messages.map(normal), expected.map(normal), name)
            XCTAssertEqual(decoded.skipped, 0, name)
        }
    }

    func testDecodeOnlyBodies() throws {
        for v in list("noncanonical") + list("unknown_types") {
            let name = v["name"] as! String
            let decoded = try Wire.decodeBody(hex(v["hex"] as! String))
            XCTAssertEqual(decoded.messages.map(normal), (v["messages"] as! [[String: Any]]).map(message).map(normal), name)
            XCTAssertEqual(decoded.skipped, UInt64(v["skipped"] as? Int ?? 0), name)
        }
    }

    func testFrames() throws {
        for v in list("frames") {
            let name = v["name"] as! String
            let label = v["label"] as! String
            let body = hex(v["body"] as! String)
            let seal = v["seal"] as? [String: Any]
            let key = (seal?["key"] as? String).map { keys[$0]! }
            let nonce = (seal?["nonce"] as? String).map(hex)
            XCTAssertEqual(try Wire.encodeFrame(body, label: label, key: key, nonce: nonce), hex(v["hex"] as! String), name)
            let receiver = (v["receiver_keys"] as? [String])?.map { keys[$0]! } ?? (key.map { [$0] } ?? [])
            let frame = try Wire.decodeFrame(hex(v["hex"] as! String), keys: receiver, label: label)
            let header = v["header"] as! [String: Any]
            XCTAssertEqual(frame.header.encrypted, header["encrypted"] as! Bool, name)
            XCTAssertEqual(Int(frame.header.keyId), header["key_id"] as! Int, name)
            XCTAssertEqual(frame.header.nonce, hex(header["nonce"] as! String), name)
            XCTAssertEqual(Int(frame.header.len), header["len"] as! Int, name)
            XCTAssertEqual(frame.body, body, name)
            XCTAssertEqual(frame.messages.map(normal), (v["messages"] as! [[String: Any]]).map(message).map(normal), name)
        }
    }

    func testInvalidInputsFailWithTheCoresError() throws {
        for v in list("invalid") {
            let name = v["name"] as! String
            let bytes = hex(v["hex"] as! String)
            do {
                if v["kind"] as! String == "body" {
                    _ = try Wire.decodeBody(bytes)
                } else {
                    let receiver = (v["receiver_keys"] as? [String] ?? []).map { keys[$0]! }
                    _ = try Wire.decodeFrame(bytes, keys: receiver, label: v["receiver_label"] as? String ?? "")
                }
                XCTFail("\(name) must not decode")
            } catch RumorError.decode(let kind, _) {
                XCTAssertEqual(kind, v["error"] as! String, name)
            }
        }
    }

    func testMetaAndUserEvents() throws {
        for v in list("meta") {
            let name = v["name"] as! String
            let map = v["map"] as? [String: String]
            switch v["error"] as? String {
            case "TooLong":
                XCTAssertThrowsError(try Wire.encodeMeta(map!, maxLen: UInt32(v["max_len"] as! Int)), name)
            case "Malformed":
                XCTAssertThrowsError(try Wire.decodeMeta(hex(v["hex"] as! String)), name)
            default:
                if v["decode_only"] as? Bool != true { XCTAssertEqual(try Wire.encodeMeta(map!), hex(v["hex"] as! String), name) }
                XCTAssertEqual(try Wire.decodeMeta(hex(v["hex"] as! String)), map!, name)
            }
        }
        for v in list("user_events") {
            let name = v["name"] as! String
            let event = v["event"] as! String
            let payload = hex(v["payload"] as! String)
            if v["error"] != nil {
                XCTAssertThrowsError(try Wire.encodeUserEvent(name: event, payload: payload), name)
                continue
            }
            if v["decode_only"] as? Bool != true {
                XCTAssertEqual(try Wire.encodeUserEvent(name: event, payload: payload), hex(v["hex"] as! String), name)
            }
            let decoded = Wire.decodeUserEvent(hex(v["hex"] as! String))
            XCTAssertEqual(decoded.name, event, name)
            XCTAssertEqual(decoded.payload, payload, name)
        }
    }
}
