import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct SeedPlanTests {
    func seed(_ text: String) throws -> ConfigurationSpec {
        try Seed(toml: text, environment: [:]).configuration
    }

    static let base = """
        [providers.demo]
        format = "mock"
        [models.chat]
        backends = [ { provider = "demo", model = "echo" } ]
        [users.alice]
        token = "sk-alice-token"
        """

    @Test func firstApplicationCreatesEveryObject() async throws {
        let repository = InMemoryConfigurationRepository()
        let report = try await repository.applySeed(try seed(Self.base))
        #expect(report.created == ["provider:demo", "model:chat", "user:alice"])
        #expect(report.unchanged == ["settings"], "default settings equal what an empty store has")
        #expect(report.updated.isEmpty && report.disabled.isEmpty)
    }

    @Test func reapplyingTheSameSeedChangesNothing() async throws {
        let repository = InMemoryConfigurationRepository()
        _ = try await repository.applySeed(try seed(Self.base))
        let report = try await repository.applySeed(try seed(Self.base))
        #expect(report.created.isEmpty && report.updated.isEmpty && report.disabled.isEmpty)
        #expect(report.unchanged.count == 4)
    }

    @Test func onlyTheChangedObjectIsApplied() throws {
        let first = try seed(Self.base)
        let initial = SeedPlan(seed: first, stored: ConfigurationSpec(), appliedFingerprints: [:])
        var stored = ConfigurationSpec()
        for change in initial.changes { stored.put(change.after) }

        // Someone edits the model outside the seed (admin API): an unchanged seed must keep that edit.
        var edited = stored.models[0]
        edited.versions[0].params = ["temperature": .number(0.5)]
        stored.put(.model(edited))
        let unchangedSeed = SeedPlan(seed: first, stored: stored, appliedFingerprints: initial.appliedFingerprints)
        #expect(unchangedSeed.changes.isEmpty)

        // The seed changes the user only: the model keeps its edit, the user is updated.
        let second = try seed(Self.base + "\nallowed_models = [\"chat\"]\n")
        let plan = SeedPlan(seed: second, stored: stored, appliedFingerprints: initial.appliedFingerprints)
        #expect(plan.changes.map(\.key) == ["user:alice"])
        #expect(plan.changes.map(\.action) == [.update])
    }

    @Test func objectsRemovedFromTheSeedAreDisabledNotDeleted() async throws {
        let repository = InMemoryConfigurationRepository()
        _ = try await repository.applySeed(try seed(Self.base + "\n[users.bob]\ntoken = \"sk-bob-token\"\n"))
        let report = try await repository.applySeed(try seed(Self.base))
        #expect(report.disabled == ["user:bob"])
        let stored = try await repository.loadConfiguration()
        #expect(stored.users.first { $0.id == "bob" }?.enabled == false)

        // Back in the seed, it is applied (enabled) again.
        let again = try await repository.applySeed(try seed(Self.base + "\n[users.bob]\ntoken = \"sk-bob-token\"\n"))
        #expect(again.updated == ["user:bob"])
        #expect(try await repository.loadConfiguration().users.first { $0.id == "bob" }?.enabled == true)
    }

    @Test func fingerprintsAreStableAndSensitive() throws {
        let a = try seed(Self.base)
        let b = try seed(Self.base)
        #expect(a.objects.map(\.fingerprint) == b.objects.map(\.fingerprint))
        let c = try seed(Self.base.replacingOccurrences(of: "model = \"echo\"", with: "model = \"echo2\""))
        #expect(a.objects.map(\.fingerprint) != c.objects.map(\.fingerprint))
    }
}
