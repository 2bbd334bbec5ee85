import Foundation
import Hummingbird
import Logging
import NIOCore

/// Per-request state filled in as a request passes through the gateway.
package struct GatewayContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    /// From the client's `X-Request-ID` when it sent a usable one, else generated.
    package var requestID: String = ""

    package init(source: Source) {
        coreContext = .init(source: source)
    }

    /// The relay reads bodies itself, with the configured limit.
    package var maxUploadSize: Int { .max }
}

extension GatewayContext {
    /// A path parameter with its percent-encoding removed (`/api/models/my%20model` names `my model`).
    func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        return raw.removingPercentEncoding ?? raw
    }
}
