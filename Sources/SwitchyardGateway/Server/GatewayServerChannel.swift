import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The gateway's connections: HTTP/1.1 parsing, then the front door (client API on the event loop,
/// deadlines, the connection cap), then Hummingbird for everything else, on one port.
struct GatewayServerChannel: ServerChildChannel {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let hummingbird: HTTP1Channel
    let services: ClientAPIServices
    let gate: ConnectionGate

    init(responder: @escaping HTTPChannelHandler.Responder, services: ClientAPIServices, gate: ConnectionGate) {
        hummingbird = HTTP1Channel(responder: responder)
        self.services = services
        self.gate = gate
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        raiseAcceptBatch(of: channel)
        let admission = gate.admit()
        guard admission != .refuse else {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        let gate = self.gate
        channel.closeFuture.whenComplete { _ in gate.closed() }
        return channel.eventLoop.makeCompletedFuture {
            // NIO's server pipeline (`configureHTTPServerPipeline`), with our response encoder and the front door in place of NIO's.
            let encoder = ServerResponseEncoder()
            let frontDoor = FrontDoor(services: services, reserveOnly: admission == .reserveOnly, responseEncoder: encoder)
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(RequestByteWatcher(frontDoor: frontDoor))
            try pipeline.addHandler(encoder)
            try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            try pipeline.addHandler(frontDoor)  // also what NIO's `HTTPServerPipelineHandler` does: pipelining, quiescing
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await hummingbird.handle(value: value, logger: logger)
    }

    /// NIO accepts 4 connections per loop tick by default: too few for a burst of clients.
    private func raiseAcceptBatch(of channel: any Channel) {
        guard let server = channel.parent, gate.isFirstConnection() else { return }
        server.setOption(ChannelOptions.maxMessagesPerRead, value: 64).whenFailure { _ in }
    }
}
