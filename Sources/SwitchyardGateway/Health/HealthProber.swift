import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import SwitchyardCore

/// Active health checks: every `health_check_interval_seconds`, each provider with a health check
/// is asked for its model list (the discovery endpoint of its format) or sent a one-token chat. A
/// failure (no connection, timeout, 5xx, 429) counts against each of its backends; a success closes
/// a circuit whose open time is over. A 404 or 405 to the list means the server has none, not that it is down.
package struct HealthProber: Service {
    let configuration: ConfigurationHolder
    let health: HealthRegistry
    let client: HTTPClient
    let logger: Logger

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let interval = configuration.current.settings.healthCheckIntervalSeconds
            let pause = interval > 0 ? interval : 5  // disabled: look again later, the setting may change
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(pause * 1000))) }
            guard interval > 0, !Task.isShuttingDownGracefully else { continue }
            await probeAll()
        }
    }

    func probeAll() async {
        let configuration = self.configuration.current
        var labelsByProvider: [String: (EffectiveConfiguration.Provider, Set<String>)] = [:]
        for model in configuration.models.values {
            for version in model.versions {
                for backend in version.backends where backend.provider.spec.healthCheck != .none && backend.provider.spec.format != .mock {
                    labelsByProvider[backend.provider.id, default: (backend.provider, [])].1.insert(backend.label)
                }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for (provider, labels) in labelsByProvider.values {
                group.addTask {
                    let failure = await probe(provider, timeout: configuration.settings.healthCheckTimeoutSeconds)
                    for label in labels {
                        if let failure {
                            health.record(label, success: false, latencyMilliseconds: nil, reason: "health check: \(failure)")
                        } else if health.status(of: label).breakerState != "closed", health.acquire(label) {
                            health.record(label, success: true, latencyMilliseconds: nil)
                        }
                    }
                }
            }
        }
    }

    private func probe(_ provider: EffectiveConfiguration.Provider, timeout: Double) async -> String? {
        await Self.check(provider, timeout: timeout, client: client)
    }

    /// Asks one provider its health check; `nil` when it answered well, else why not.
    package static func check(_ provider: EffectiveConfiguration.Provider, timeout: Double, client: HTTPClient) async -> String? {
        guard let baseURL = provider.spec.effectiveBaseURL else { return "no base_url" }
        var request: HTTPClientRequest
        switch provider.spec.healthCheck {
        case .none: return nil
        case .models:
            guard let list = ModelDiscovery.listRequest(for: provider) else { return "no base_url" }
            request = list
        case .chat:
            // Seeds allow chat checks for the OpenAI-shaped formats that share this path.
            request = HTTPClientRequest(url: "\(baseURL)\(provider.spec.format == .ollama ? "/v1" : "")/chat/completions")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            let body: JSONValue = .object([
                "model": .string(provider.spec.healthCheckModel ?? ""), "max_tokens": .number(1),
                "messages": .array([.object(["role": "user", "content": "ping"])]),
            ])
            request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
        }
        if provider.spec.healthCheck == .chat {
            if let key = provider.apiKey { request.headers.add(name: "authorization", value: "Bearer \(key)") }
            for (name, value) in provider.headers { request.headers.replaceOrAdd(name: name, value: value) }
        }
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            _ = try? await response.body.collect(upTo: 1 << 20)
            let code = Int(response.status.code)
            if (200..<300).contains(code) { return nil }
            if provider.spec.healthCheck == .models && (code == 404 || code == 405) { return nil }
            return code >= 500 || code == 429 || code == 401 || code == 403 ? "HTTP \(code)" : nil
        } catch {
            return provider.redacting("\(error)")
        }
    }
}
