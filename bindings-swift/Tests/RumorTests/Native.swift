// Real native `rumor agent` processes for the tests: started on free loopback ports, read
// through the `rumor` client (`rumor members --json`), killed at the end.
import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// The repository root (this file is bindings-swift/Tests/RumorTests/Native.swift).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

/// The native binary: `RUMOR_BIN`, else target/debug/rumor.
let rumorBin = ProcessInfo.processInfo.environment["RUMOR_BIN"] ?? repoRoot.appendingPathComponent("target/debug/rumor").path

/// A port free for UDP and TCP on 127.0.0.1 (the kernel's pick for a UDP socket, checked for TCP).
func freePort() -> UInt16 {
    for _ in 0..<50 {
        let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(udp) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, len) == 0 && getsockname(udp, $0, &len) == 0 }
        }
        guard bound else { continue }
        let port = UInt16(bigEndian: addr.sin_port)
        let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(tcp) }
        var t = sockaddr_in()
        t.sin_family = sa_family_t(AF_INET)
        t.sin_addr.s_addr = inet_addr("127.0.0.1")
        t.sin_port = port.bigEndian
        let ok = withUnsafePointer(to: &t) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(tcp, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        if ok { return port }
    }
    fatalError("no free port on 127.0.0.1")
}

/// Whether `port` can be bound for UDP on 127.0.0.1 right now.
func udpPortIsFree(_ port: UInt16) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    a.sin_port = port.bigEndian
    return withUnsafePointer(to: &a) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
}

/// Runs the `rumor` client and returns its standard output.
@discardableResult
func rumor(_ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: rumorBin)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

/// Polls `check` until it is true or `seconds` pass.
func eventually(_ what: String, within seconds: Double = 20, _ check: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if (try? await check()) == true { return }
        try await Task.sleep(nanoseconds: 100_000_000)
    }
    XCTFail("not within \(seconds) s: \(what)")
    throw CancellationError()
}

/// One native agent.
final class NativeAgent: @unchecked Sendable {
    let name: String
    let port: UInt16
    let http: UInt16
    var args: [String]
    private var process: Process?

    var addr: String { "127.0.0.1:\(port)" }
    var httpAddr: String { "127.0.0.1:\(http)" }

    init(name: String, join: [String] = [], keyringFile: String? = nil, meta: [String: String] = [:]) {
        self.name = name
        port = freePort()
        http = freePort()
        args = ["agent", "--name", name, "--bind", "127.0.0.1:\(port)", "--http", "127.0.0.1:\(http)", "--preset", "local"]
        if !join.isEmpty { args += ["--join", join.joined(separator: ",")] }
        if let k = keyringFile { args += ["--keyring", k] }
        for (k, v) in meta.sorted(by: { $0.key < $1.key }) { args += ["--meta", "\(k)=\(v)"] }
    }

    func start() async throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: rumorBin)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("RUMOR_") }
        env["RUST_LOG"] = "warn"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        process = p
        try await eventually("\(name) answers on \(httpAddr)") { (try? members()) != nil }
    }

    /// `name → (state, meta)` as this agent sees its cluster.
    func members() throws -> [String: (state: String, meta: [String: String])] {
        let text = try rumor(["members", "--http", httpAddr, "--json"])
        guard let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
            let list = json["members"] as? [[String: Any]]
        else { throw CocoaError(.coderReadCorrupt) }
        var out: [String: (state: String, meta: [String: String])] = [:]
        for m in list {
            guard let n = m["name"] as? String, let s = m["state"] as? String else { continue }
            out[n] = (s, m["meta"] as? [String: String] ?? [:])
        }
        return out
    }

    func kill() {
        if let p = process, p.isRunning {
            Glibc.kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
    }

    deinit { kill() }
}

/// Three native agents joined to the first.
func nativeCluster(keyringFile: String? = nil) async throws -> [NativeAgent] {
    let first = NativeAgent(name: "n1", keyringFile: keyringFile, meta: ["role": "native"])
    try await first.start()
    var all = [first]
    for n in ["n2", "n3"] {
        let a = NativeAgent(name: n, join: [first.addr], keyringFile: keyringFile, meta: ["role": "native"])
        try await a.start()
        all.append(a)
    }
    try await eventually("the natives see each other") {
        try all.allSatisfy { a in try a.members().filter { $0.value.state == "alive" }.count == 3 }
    }
    return all
}
