import Foundation
import Testing

@testable import SwitchyardCore
/// The body scanner, the splices and the counts reader against the JSON parser on random and
/// mutated bodies (`RequestBodyGenerator`).
@Suite struct RequestBodyPropertyTests {
    @Test func randomBodiesScanAsTheirParsedTreeReads() throws {
        var generator = RequestBodyGenerator(seed: 0x5EED_0001)
        for round in 0..<(propertyTestRounds ?? 3000) {
            let body = generator.body()
            let scan = try RequestBodyScan.scan(body)
            let tree = try JSONValue.parse(body)
            guard case .object(let object) = tree else {
                #expect(!scan.isObject, "round \(round)")
                continue
            }
            #expect(RoutingFields(scan) == RoutingFields(object), "round \(round): \(String(decoding: body, as: UTF8.self))")
            #expect(Set(scan.members.map(\.key)) == Set(object.keys), "round \(round)")
            for member in scan.members {
                let value = try JSONValue.parse(body[member.valueRange])
                #expect(kind(of: value) == member.kind, "round \(round)")
                if member.key == "messages", case .array(let elements) = value, scan.lastMember(named: "messages") == member {
                    #expect(try scan.messages?.map { try JSONValue.parse(body[$0.range]) } == elements, "round \(round)")
                }
            }
            if let last = scan.members.last { #expect(object[last.key] == (try JSONValue.parse(body[last.valueRange])), "round \(round)") }
        }
    }

    @Test func countsReadInPlaceAreWhatTheParsedObjectHolds() {
        var generator = RequestBodyGenerator(seed: 0x5EED_0004)
        let names = ["prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"]
        for round in 0..<(propertyTestRounds ?? 3000) {
            var members: [([UInt8], [UInt8])] = []
            for _ in 0..<generator.roll(5) {
                let name = generator.pick(names)
                members.append((generator.key(name), generator.chance(60) ? generator.number() : generator.value(depth: 2)))
            }
            let value = generator.chance(5) ? Array("null".utf8) : generator.chance(5) ? generator.value(depth: 2) : generator.object(members)
            let document = Array(#"{"usage":"#.utf8) + generator.space() + value + Array("}".utf8)
            // The counts, and where the nested details start, in one pass over the object.
            let found = document.withUnsafeBytes {
                JSONCountsReader.counts(in: $0, at: 9, named: ("prompt_tokens", "completion_tokens"), noting: "prompt_tokens_details")
            }
            let expected: JSONCountsReader.Found? =
                switch try? JSONValue.parse(value) {
                case .null?: .null
                case .object(let object)?: .object(object["prompt_tokens"]?.intValue(), object["completion_tokens"]?.intValue())
                default: nil
                }
            #expect(found.found == expected, "round \(round): \(String(decoding: value, as: UTF8.self))")
            let names = ("cached_tokens", "cache_write_tokens") as (StaticString, StaticString)
            let details = document.withUnsafeBytes { bytes in
                found.nestedOffset.flatMap { start in JSONCountsReader.counts(in: bytes, at: start, named: names) }
            }
            let expectedDetails: JSONCountsReader.Found? =
                switch (try? JSONValue.parse(value))?.objectValue?["prompt_tokens_details"] {
                case .null?: .null
                case .object(let object)?: .object(object["cached_tokens"]?.intValue(), object["cache_write_tokens"]?.intValue())
                default: nil
                }
            #expect(details == expectedDetails, "round \(round): \(String(decoding: value, as: UTF8.self))")
        }
    }

    @Test func randomRewritesGiveTheTreeThatEditingTheParsedBodyGives() throws {
        var generator = RequestBodyGenerator(seed: 0x5EED_0002)
        var rewrites = 0
        while rewrites < 2000 {
            let body = generator.body()
            guard case .object(var tree) = try JSONValue.parse(body) else { continue }
            rewrites += 1
            var rewrite = RequestBodyRewrite(scan: try RequestBodyScan.scan(body))
            var touched: Set<String> = []
            for _ in 0..<1 + generator.roll(4) {
                switch generator.roll(4) {
                case 0:
                    let name = try generator.decodedString()
                    rewrite.setModel(name)
                    tree["model"] = .string(name)
                    touched.insert("model")
                case 1:
                    let key = generator.pick(["temperature", "seed", "model", "messages", "stream_options", "user", "new", "k\u{e9}y", "a\"b"])
                    let value = try JSONValue.parse(generator.value(depth: 2))
                    rewrite.setMember(key, to: value)
                    tree[key] = value
                    touched.insert(key)
                case 2:
                    let prompt = try generator.decodedString()
                    rewrite.setSystemPrompt(prompt)
                    Reference.setSystemPrompt(prompt, in: &tree)
                    touched.insert("messages")
                default:
                    rewrite.includeUsageInStream()
                    Reference.includeUsage(in: &tree)
                    touched.insert("stream_options")
                }
            }
            let result = rewrite.apply(to: body)
            let context = "\(String(decoding: body, as: UTF8.self)) -> \(String(decoding: result, as: UTF8.self))"
            #expect(try JSONValue.parse(result) == .object(tree), "\(context)")
            // What the rewrite touched appears once; what it did not keeps its bytes.
            let before = try RequestBodyScan.scan(body)
            let after = try RequestBodyScan.scan(result)
            for key in touched {
                #expect(after.members.filter { $0.key == key }.count == 1, "\(key) in \(context)")
            }
            for member in before.members where !touched.contains(member.key) {
                let kept = after.members.filter { $0.key == member.key }.map { Array(result[$0.valueRange]) }
                #expect(kept.contains(Array(body[member.valueRange])), "\(member.key) in \(context)")
            }
        }
    }

    @Test func mutatedBodiesAreRefusedExactlyWhenTheParserRefusesThem() {
        var generator = RequestBodyGenerator(seed: 0x5EED_0003)
        var refused = 0
        for round in 0..<(propertyTestRounds ?? 4000) {
            let body = generator.mutate(generator.body())
            let parsed = outcome(parsing: body)
            if case .failure = parsed { refused += 1 }
            #expect(outcome(scanning: body) == parsed, "round \(round): \(body)")
        }
        #expect(refused > 1000, "the mutations break most bodies")
    }
}
