/// Why a request cannot be routed, before anything is sent upstream.
package enum RoutingFailure: Error, Sendable, Equatable {
    case unknownModel(String)
    case modelNotAllowed(String)
    case noBackend(model: String, version: String)
}

/// Where one request goes: the version and the backends to try, in order.
package struct RouteDecision: Sendable {
    package var model: EffectiveConfiguration.Model
    package var version: EffectiveConfiguration.Version
    package var backends: [EffectiveConfiguration.Backend]
}

/// Picks version and backend for a request from the effective configuration. Pure: no clock, no I/O.
package struct RequestRouter: Sendable {
    package init() {}

    package func route<R: RandomNumberGenerator>(
        model name: String, user: UserSpec, in configuration: EffectiveConfiguration, using random: inout R
    ) throws(RoutingFailure) -> RouteDecision {
        guard let model = configuration.models[name] else { throw .unknownModel(name) }
        guard user.mayUse(model: name) else { throw .modelNotAllowed(name) }
        let bucket = Int.random(in: 0..<ReleaseSplit.bucketCount, using: &random)
        var version = model.versions[model.split.versionIndex(forBucket: bucket) ?? model.defaultVersionIndex]
        if version.backends.isEmpty {
            version = model.versions[model.defaultVersionIndex]
        }
        guard !version.backends.isEmpty else { throw .noBackend(model: name, version: version.name) }
        let backends = WeightedOrder.order(version.backends, weight: \.weight, using: &random)
        return RouteDecision(model: model, version: version, backends: backends)
    }
}

/// Orders candidates by weighted random sampling without replacement: the first is drawn with
/// probability proportional to its weight, the next among the rest, and so on (failover order).
package enum WeightedOrder {
    package static func order<Element, R: RandomNumberGenerator>(
        _ items: [Element], weight: (Element) -> Double, using random: inout R
    ) -> [Element] {
        if items.count <= 1 { return items }
        var remaining = items
        var result: [Element] = []
        result.reserveCapacity(items.count)
        while !remaining.isEmpty {
            let total = remaining.reduce(0) { $0 + max(weight($1), 0) }
            var index = remaining.count - 1
            if total > 0 {
                var point = Double.random(in: 0..<total, using: &random)
                for (candidate, item) in remaining.enumerated() {
                    point -= max(weight(item), 0)
                    if point < 0 {
                        index = candidate
                        break
                    }
                }
            }
            result.append(remaining.remove(at: index))
        }
        return result
    }
}
