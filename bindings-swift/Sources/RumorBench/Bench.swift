// The Swift binding's figures (a benchmark, not a test):
//   swift run -c release RumorBench [RUMOR_BIN]   (bindings-swift/swift.sh run … does it here)
// 1. start-to-joined: `RumorAgent(…, join: [native])` until it lists every member of a
//    3-agent native cluster alive (median of 10);
// 2. events per second through `AsyncStream`: plaintext datagrams of 64 user events each,
//    built with `Wire` and sent to the agent's UDP port from this process, paced by the
//    consumer (at most 128 events outstanding, under the stream's buffers), counted as they
//    arrive at `for await`.
import Foundation
import Rumor

#if canImport(Glibc)
    import Glibc
#endif

let rumorBin = CommandLine.arguments.dropFirst().first ?? "target/debug/rumor"

func port() -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    return UInt16(bigEndian: a.sin_port)
}

func native(_ name: String, join: String?) throws -> (Process, String) {
    let (p, h) = (port(), port())
    let proc = Process()
    proc.executableURL = URL(fileURLWithPath: rumorBin)
    proc.arguments = ["agent", "--name", name, "--bind", "127.0.0.1:\(p)", "--http", "127.0.0.1:\(h)", "--preset", "local"]
        + (join.map { ["--join", $0] } ?? [])
    proc.standardError = FileHandle.nullDevice
    proc.standardOutput = FileHandle.nullDevice
    try proc.run()
    return (proc, "127.0.0.1:\(p)")
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

@main struct Bench {
    static func main() async throws {
        // 1. start-to-joined.
        let (n1, seed) = try native("n1", join: nil)
        let (n2, _) = try native("n2", join: seed)
        let (n3, _) = try native("n3", join: seed)
        defer { for p in [n1, n2, n3] { p.terminate() } }
        try await Task.sleep(nanoseconds: 1_500_000_000)
        var joins: [Double] = []
        for i in 0..<10 {
            let t0 = Date()
            let a = try await RumorAgent(name: "bench-\(i)", bind: "127.0.0.1:0", join: [seed], preset: "local")
            while try await a.members().filter({ $0.state == .alive }).count < 4 { await Task.yield() }
            joins.append(Date().timeIntervalSince(t0) * 1000)
            try await a.leave()
        }
        print(String(format: "start-to-joined (3 native agents, loopback, local preset): median %.1f ms, min %.1f, max %.1f (10 runs)",
                     median(joins), joins.min()!, joins.max()!))

        // 2. events per second through the AsyncStream.
        let agent = try await RumorAgent(name: "sink", bind: "127.0.0.1:0", preset: "local")
        let target = agent.localAddr
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var to = sockaddr_in()
        to.sin_family = sa_family_t(AF_INET)
        to.sin_addr.s_addr = inet_addr("127.0.0.1")
        to.sin_port = UInt16(target.split(separator: ":").last!)!.bigEndian
        let total = 50_000, perDatagram = 64
        let received = Counter()
        let events = agent.events
        let consumer = Task {
            for await e in events {
                if case .userEvent = e { if received.add() == total { break } }
            }
        }
        let t0 = Date()
        var id: UInt64 = 1
        var sent = 0
        while sent < total {
            while sent - received.value > 128 { await Task.yield() }
            let messages = (0..<perDatagram).map { _ -> WireMessage in
                defer { id += 1 }
                return .user(origin: "injector", id: id, payload: try! Wire.encodeUserEvent(name: "e", payload: Data([1, 2, 3])))
            }
            let frame = try Wire.encodeFrame(try Wire.encodeBody(messages))
            _ = frame.withUnsafeBytes { buf in
                withUnsafePointer(to: &to) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, buf.baseAddress, buf.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
            sent += perDatagram
        }
        _ = await consumer.value
        let seconds = Date().timeIntervalSince(t0)
        print(String(format: "events through the AsyncStream: %d in %.2f s = %.0f events/s", received.value, seconds, Double(received.value) / seconds))
        close(fd)
        await agent.close()
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
    func add() -> Int { lock.lock(); defer { lock.unlock() }; n += 1; return n }
}
