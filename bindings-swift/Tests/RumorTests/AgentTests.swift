// A Swift `RumorAgent` in a cluster of real native `rumor agent` processes on loopback.
import Foundation
import Rumor
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class AgentTests: XCTestCase {
    /// Joins three natives: sees them alive, they list it with its metadata; SIGKILL one → the
    /// event stream yields `.failed`; a broadcast reaches a native `rumor monitor`; `leave()` is
    /// seen as left natively.
    func testJoinsNativesDetectsFailureBroadcastsAndLeaves() async throws {
        let natives = try await nativeCluster()
        let agent = try await RumorAgent(
            name: "swift-1", bind: "127.0.0.1:0", join: [natives[0].addr], meta: ["role": "app"], preset: "local")
        XCTAssertTrue(agent.isRunning)
        XCTAssertEqual(agent.addr, agent.localAddr)

        try await eventually("Swift sees all natives alive") {
            let members = try await agent.members()
            return members.filter { $0.state == .alive }.map(\.name) == ["n1", "n2", "n3", "swift-1"]
        }
        let me = try await agent.members().first { $0.name == "swift-1" }
        XCTAssertEqual(me?.meta, ["role": "app"])
        for n in natives {
            try await eventually("\(n.name) lists swift-1 alive with its metadata") {
                let m = try n.members()["swift-1"]
                return m?.state == "alive" && m?.meta == ["role": "app"]
            }
        }

        // A native `rumor monitor` on n2 sees the Swift broadcast.
        let monitor = Process()
        monitor.executableURL = URL(fileURLWithPath: rumorBin)
        monitor.arguments = ["monitor", "--http", natives[1].httpAddr, "--json"]
        let out = Pipe()
        monitor.standardOutput = out
        try monitor.run()
        // SIGKILL, not terminate(): children of an async test inherit a mask that blocks SIGTERM
        // (swift-corelibs-foundation#4772).
        defer {
            kill(monitor.processIdentifier, SIGKILL)
            monitor.waitUntilExit()
        }
        try await Task.sleep(nanoseconds: 300_000_000)  // let it subscribe
        try await agent.broadcast(name: "deploy", payload: Data("v42".utf8))
        let seen = try await readLine(from: out, within: 15) { $0.contains("\"deploy\"") }
        XCTAssertTrue(seen.contains("\"origin\":\"swift-1\"") && seen.contains("\"payload\":\"v42\""), seen)

        // SIGKILL n3: the stream yields .failed for it.
        let events = agent.events
        natives[2].kill()
        let failed = try await firstEvent(events, within: 20) {
            if case .failed(let m) = $0 { return m.name == "n3" }
            return false
        }
        XCTAssertEqual(failed.member?.state, .failed)

        // Leaving is seen as left natively, and a stream finishes.
        let after = agent.events
        let acks = try await agent.leave()
        XCTAssertGreaterThan(acks, 0)
        XCTAssertFalse(agent.isRunning)
        try await eventually("n1 sees swift-1 left") { try natives[0].members()["swift-1"]?.state == "left" }
        for await _ in after {}  // finishes once the agent has stopped
        do {
            _ = try await agent.members()
            XCTFail("members() after leave() must throw")
        } catch RumorError.closed {}
    }

    /// A native event reaches the Swift stream as `.userEvent`.
    func testNativeEventReachesSwift() async throws {
        let natives = try await nativeCluster()
        let agent = try await RumorAgent(name: "swift-2", bind: "127.0.0.1:0", join: [natives[0].addr], preset: "local")
        try await eventually("joined") { try await agent.members().count == 4 }
        let events = agent.events
        try rumor(["event", "--http", natives[0].httpAddr, "deploy", "v7"])
        let e = try await firstEvent(events, within: 15) {
            if case .userEvent = $0 { return true }
            return false
        }
        XCTAssertEqual(e, .userEvent(origin: "n1", name: "deploy", payload: Data("v7".utf8)))
        await agent.close()
    }

    /// An agent with the wrong key never appears; one with the right key does.
    func testWrongKeyNeverGetsIn() async throws {
        let good = try generateKey()
        let wrong = try generateKey()
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rumor-swift-keyring-\(UUID()).json")
        try Data("[\"\(good)\"]".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let natives = try await nativeCluster(keyringFile: file.path)
        let bad = try await RumorAgent(
            name: "bad", bind: "127.0.0.1:0", join: [natives[0].addr], keyring: [wrong], preset: "local")
        let ok = try await RumorAgent(
            name: "ok", bind: "127.0.0.1:0", join: [natives[0].addr], keyring: [good], preset: "local")
        try await eventually("the right key gets in") { try natives[0].members()["ok"]?.state == "alive" }
        try await Task.sleep(nanoseconds: 3_000_000_000)
        for n in natives { XCTAssertNil(try n.members()["bad"], "\(n.name) lists the agent with the wrong key") }
        let badView = try await bad.members().map(\.name)
        XCTAssertEqual(badView, ["bad"])
        await bad.close()
        await ok.close()
    }

    /// Bad config throws `RumorError.config` naming the field; nothing starts.
    func testBadConfigNamesTheField() async throws {
        for (options, field) in [
            (AgentOptions(name: "a", bind: "nonsense"), "bind"),
            (AgentOptions(name: "", bind: "127.0.0.1:0"), "name"),
            (AgentOptions(name: "a", bind: "127.0.0.1:0", preset: "fast"), "preset"),
            (AgentOptions(name: "a", bind: "127.0.0.1:0", keyring: ["not base64!"]), "keyring"),
            (AgentOptions(name: "a", bind: "127.0.0.1:0", join: ["no port"]), "join"),
        ] {
            do {
                _ = try await RumorAgent(options)
                XCTFail("\(options) must be refused")
            } catch RumorError.config(let f, _, _) {
                XCTAssertEqual(f, field)
            }
        }
    }

    /// The stream ends when the agent is closed; cancelling its consumer does not keep the
    /// agent alive (its socket is freed once the app drops it).
    func testStreamEndsOnCloseAndCancelledConsumerDoesNotLeak() async throws {
        let agent = try await RumorAgent(name: "s", bind: "127.0.0.1:0", preset: "local")
        let events = agent.events
        let consumer = Task { () -> Int in
            var n = 0
            for await _ in events { n += 1 }
            return n
        }
        await agent.close()
        _ = await consumer.value  // returns: the stream finished
        XCTAssertFalse(agent.isRunning)

        var port: UInt16 = 0
        do {
            var second: RumorAgent? = try await RumorAgent(name: "t", bind: "127.0.0.1:0", preset: "local")
            port = UInt16(second!.localAddr.split(separator: ":").last!)!
            weak var weakAgent = second
            let task = Task { [events = second!.events] in for await _ in events {} }
            try await Task.sleep(nanoseconds: 200_000_000)
            task.cancel()
            _ = await task.value
            second = nil
            XCTAssertNil(weakAgent, "nothing but the app holds the agent")
        }
        try await eventually("the dropped agent's UDP port is free again", within: 10) { udpPortIsFree(port) }
    }
}

/// The first event of `events` matching `matches`, within `seconds`.
func firstEvent(
    _ events: AsyncStream<MembershipEvent>, within seconds: Double,
    _ matches: @escaping @Sendable (MembershipEvent) -> Bool
) async throws -> MembershipEvent {
    try await withThrowingTaskGroup(of: MembershipEvent?.self) { group in
        group.addTask {
            for await e in events where matches(e) { return e }
            return nil
        }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        guard let e = first else {
            XCTFail("no matching event within \(seconds) s")
            throw CancellationError()
        }
        return e
    }
}

/// Reads lines from `pipe` until one matches, within `seconds`.
func readLine(from pipe: Pipe, within seconds: Double, _ matches: @escaping @Sendable (String) -> Bool) async throws
    -> String
{
    let handle = pipe.fileHandleForReading
    return try await withThrowingTaskGroup(of: String?.self) { group in
        group.addTask {
            var buffer = ""
            while true {
                let data = handle.availableData
                if data.isEmpty { return nil }
                buffer += String(decoding: data, as: UTF8.self)
                while let nl = buffer.firstIndex(of: "\n") {
                    let line = String(buffer[..<nl])
                    buffer = String(buffer[buffer.index(after: nl)...])
                    if matches(line) { return line }
                }
            }
        }
        group.addTask {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            return nil
        }
        let first = try await group.next() ?? nil
        group.cancelAll()
        guard let line = first else {
            XCTFail("no matching line within \(seconds) s")
            throw CancellationError()
        }
        return line
    }
}
