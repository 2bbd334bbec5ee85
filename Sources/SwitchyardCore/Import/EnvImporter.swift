import Foundation

/// Converts the env-configured gateway convention (`LLM_PROVIDERS=a,b` and
/// `LLM_PROVIDER_{ID}_{NAME,BASE_URL,API_KEY,MODELS_PATH,WEIGHT,REGION,COST_INPUT,COST_OUTPUT,MAX_QPS}`)
/// into a Switchyard seed. Keys stay in the environment: the seed refers to them with `env:`.
package enum EnvImporter {
    package struct Result: Sendable {
        package var seed: String
        package var warnings: [String]
    }

    package static func convert(_ environment: [String: String]) -> Result {
        var warnings: [String] = []
        let ids = (environment["LLM_PROVIDERS"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if ids.isEmpty { warnings.append("LLM_PROVIDERS is empty or unset: no providers") }
        var writer = SeedWriter(
            header:
                "Imported from LLM_PROVIDERS / LLM_PROVIDER_* by `switchyard import env`.\nEvery provider serves the model \"default\"; set each backend's upstream model before use."
        )
        var backends: [String] = []
        for id in ids {
            func variable(_ name: String) -> String? {
                environment["LLM_PROVIDER_\(id)_\(name)"].flatMap { $0.isEmpty ? nil : $0 }
            }
            guard let baseURL = variable("BASE_URL") else {
                warnings.append("provider \(id): LLM_PROVIDER_\(id)_BASE_URL is missing; skipped")
                continue
            }
            let providerID = id.lowercased()
            writer.table(["providers", providerID])
            writer.line("format", SeedWriter.string("openai"))
            writer.line("base_url", SeedWriter.string(baseURL))
            if variable("API_KEY") != nil { writer.line("api_key", SeedWriter.string("env:LLM_PROVIDER_\(id)_API_KEY")) }
            if let region = variable("REGION") { writer.line("region", SeedWriter.string(region)) }
            for (name, key) in [("COST_INPUT", "cost_input_per_mtok"), ("COST_OUTPUT", "cost_output_per_mtok")] {
                guard let text = variable(name) else { continue }
                if let cost = Double(text), cost >= 0 {
                    writer.line(key, SeedWriter.number(cost))
                } else {
                    warnings.append("provider \(id): \(name)=\(text) is not a number; left out")
                }
            }
            if let name = variable("NAME") { writer.comment("name: \(name)") }
            if let path = variable("MODELS_PATH") {
                if path.hasPrefix("/") {
                    writer.line("models_path", SeedWriter.string(path))
                } else {
                    warnings.append("provider \(id): MODELS_PATH=\(path) does not start with \"/\"; left out")
                }
            }
            if let qps = variable("MAX_QPS") { warnings.append("provider \(id): MAX_QPS=\(qps) not imported (use users' rate_limit)") }
            var weight = "1"
            if let text = variable("WEIGHT") {
                if let value = Double(text), value >= 0 {
                    weight = SeedWriter.number(value)
                } else {
                    warnings.append("provider \(id): WEIGHT=\(text) is not a number; using 1")
                }
            }
            backends.append("  { provider = \(SeedWriter.string(providerID)), model = \(SeedWriter.string("CHANGE-ME")), weight = \(weight) },")
        }
        if !backends.isEmpty {
            writer.table(["models", "default"])
            writer.raw("backends = [\n" + backends.joined(separator: "\n") + "\n]\n")
            warnings.append("model \"default\": set each backend's upstream model (now \"CHANGE-ME\")")
        }
        return Result(seed: writer.text, warnings: warnings)
    }
}
