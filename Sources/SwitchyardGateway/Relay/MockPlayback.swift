import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Plays the mock's answer on the event loop: the head, then each event at its time.
final class MockPlayback: UpstreamAttempt {
    private let script: MockScript
    private let loop: any EventLoop
    private var handler: (any UpstreamResponseHandler)?
    private var next = 0
    private var scheduled: Scheduled<Void>?
    private var paused = false
    private var waitingForResume = false
    private var headSent = false

    init(script: MockScript, loop: any EventLoop, handler: any UpstreamResponseHandler) {
        self.script = script
        self.loop = loop
        self.handler = handler
        if script.headFirst {
            loop.assumeIsolatedUnsafeUnchecked().execute { self.sendHead() }
        }
        schedule(afterMilliseconds: script.firstAfterMilliseconds)
    }

    func cancel() {
        handler = nil
        scheduled?.cancel()
        scheduled = nil
    }

    func pauseReading() { paused = true }

    func resumeReading() {
        paused = false
        if waitingForResume {
            waitingForResume = false
            schedule(afterMilliseconds: 0)
        }
    }

    private func sendHead() {
        guard !headSent, let handler else { return }
        headSent = true
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: script.contentType)
        handler.upstreamHead(status: script.status, headers: headers)
    }

    private func schedule(afterMilliseconds milliseconds: Double) {
        scheduled = loop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: .nanoseconds(Int64(max(milliseconds, 0) * 1_000_000))) {
            self.scheduled = nil
            self.emit()
        }
    }

    /// Sends the events due now: the next one, and every unpaced one after it.
    private func emit() {
        guard handler != nil else { return }
        sendHead()
        guard !paused else {
            waitingForResume = true
            return
        }
        while next < script.events.count {
            guard let handler else { return }
            handler.upstreamBody(script.events[next].bytes)
            next += 1
            if next < script.events.count && script.events[next].paced { break }
        }
        handler?.upstreamReadComplete()
        if next < script.events.count {
            schedule(afterMilliseconds: script.gapMilliseconds)
        } else {
            let handler = self.handler
            self.handler = nil
            handler?.upstreamEnd()
        }
    }
}
