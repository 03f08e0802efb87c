import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore

/// Notices that a client has gone: its connection closed, or (Hummingbird allows half-closed
/// connections) its input ended while a request was being served. HTTP/1.1 clients do not
/// half-close while they wait for an answer, so either means nobody is waiting: the request is
/// dropped before it runs (as hyper, under TEI, drops it). One per connection.
final class HangUpDetector: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny

    private let lock = NSLock()
    private var gone = false

    var isGone: Bool { lock.withLock { gone } }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { lock.withLock { gone = true } }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        lock.withLock { gone = true }
        context.fireChannelInactive()
    }
}

/// HTTP/1.1 with a `HangUpDetector` on every connection, and idle keep-alive connections
/// closed after `idleTimeout`.
public func httpServer(idleTimeout: TimeAmount? = .seconds(60)) -> HTTPServerBuilder {
    .http1(configuration: .init(additionalChannelHandlers: [HangUpDetector()], idleTimeout: idleTimeout))
}

extension ServerContext {
    /// Whether the client of this request has gone (see `HangUpDetector`); on a connection
    /// without one (the router tests' channel), whether its connection, open when the request
    /// arrived, has closed since.
    func clientGone() async -> @Sendable () -> Bool {
        let channel = self.channel
        if let detector = try? await channel.pipeline.handler(type: HangUpDetector.self).get() {
            return { detector.isGone }
        }
        guard channel.isActive else { return { false } }   // a test channel that never opened
        return { !channel.isActive }
    }
}
