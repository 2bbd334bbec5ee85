import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct RequestBodyScanTests {
    /// Rounds of the random-body property tests: `SWITCHYARD_FUZZ_ROUNDS` (`make fuzz`), else a few thousand.
    static let rounds = ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_ROUNDS"].flatMap(Int.init)

    // MARK: Reading

    @Test func membersAreListedInOrderWithTheirValuesAndKinds() throws {
        let body = #"{"model":"gpt-4o","n":2,"stop":null,"stream":true,"tools":[],"metadata":{"a":"b"}}"#
        let scan = try scanning(body)
        #expect(scan.isObject)
        #expect(scan.members.map(\.key) == ["model", "n", "stop", "stream", "tools", "metadata"])
        #expect(scan.members.map(\.kind) == [.string, .number, .null, .bool, .array, .object])
        #expect(scan.members.map { text(of: $0.valueRange, in: body) } == [#""gpt-4o""#, "2", "null", "true", "[]", #"{"a":"b"}"#])
        #expect(scan.members.map { text(of: $0.keyStart..<$0.keyStart + 1, in: body) } == Array(repeating: "\"", count: 6))
        #expect(text(of: scan.objectEnd..<scan.objectEnd + 1, in: body) == "}")
        #expect(scan.model == "gpt-4o")
        #expect(scan.stream == true)
    }

    @Test func routingFieldsAreWhatTheGatewayReadsFromAParsedBody() throws {
        let body = #"""
            {"model":"m","stream":false,"user":"u-1","stream_options":{"include_usage":true},"max_tokens":12.9,
             "messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"héllo"},
             {"type":"image_url","image_url":{"url":"x"}},"stray",{"text":7}]}]}
            """#
        let scan = try scanning(body)
        #expect(RoutingFields(scan) == RoutingFields(try parsedObject(body)))
        #expect(scan.user == "u-1")
        #expect(scan.includeUsage == true)
        #expect(scan.maxTokens == 12)
        #expect(scan.promptBytes == "Be brief.".utf8.count + "héllo".utf8.count)
        #expect(scan.messages?.map(\.role) == ["system", "user"])
    }

    @Test func escapedStringsAreDecoded() throws {
        let body = #"{"model":"a\"b\\c\/d\n\t\u00e9\u4E2D\ud83d\ude00","user":"\u0000\b\f\r","messages":[{"role":"sys\u0074em","content":"\"\\"}]}"#
        let scan = try scanning(body)
        #expect(scan.model == "a\"b\\c/d\n\té中😀")
        #expect(scan.user == "\u{0}\u{8}\u{C}\r")
        #expect(scan.messages?.first?.role == "system")
        #expect(scan.promptBytes == 2)
    }

    @Test func escapedMemberNamesAreRecognised() throws {
        let body = #"{"mod\u0065l":"m","\u0073tream":true,"messages":[{"r\u006fle":"user","cont\u0065nt":"abc"}]}"#
        let scan = try scanning(body)
        #expect(scan.members.map(\.key) == ["model", "stream", "messages"])
        #expect(scan.model == "m")
        #expect(scan.stream == true)
        #expect(scan.messages?.first?.role == "user")
        #expect(scan.promptBytes == 3)
    }

    @Test func aModelInsideContentOrNestedObjectsIsNotTheTopLevelModel() throws {
        let body = #"""
            {"messages":[{"role":"user","content":"{\"model\":\"evil\"}","model":"evil-2"},
             {"role":"user","content":[{"type":"text","text":"x","model":"evil-3"}]}],
             "metadata":{"model":"evil-4","stream_options":{"include_usage":false}},"tools":[{"model":"evil-5"}],"model":"real"}
            """#
        let scan = try scanning(body)
        #expect(scan.model == "real")
        #expect(scan.includeUsage == nil)
        var rewrite = RequestBodyRewrite(scan: scan)
        rewrite.setModel("upstream")
        let rewritten = rewrite.apply(to: Array(body.utf8))
        var expected = try parsedObject(body)
        expected["model"] = "upstream"
        #expect(try JSONValue.parse(rewritten) == .object(expected))
        for evil in ["evil", "evil-2", "evil-3", "evil-4", "evil-5"] {
            #expect(String(decoding: rewritten, as: UTF8.self).contains(#""\#(evil)"#))
        }
    }

    @Test func nonObjectDocumentsAreReportedAndNotRefused() throws {
        for body in [#"[{"model":"m"}]"#, #""model""#, "42", "null", " true "] {
            let scan = try scanning(body)
            #expect(!scan.isObject)
            #expect(scan.members.isEmpty)
            #expect(scan.model == nil)
        }
    }

    @Test func unicodeIsCountedInDecodedUTF8Bytes() throws {
        let body = #"{"messages":[{"role":"user","content":"é中😀\u00e9\u4e2d\ud83d\ude00\u0041"}],"input":"\ud834\udd1e𝄞"}"#
        let scan = try scanning(body)
        #expect(scan.promptBytes == (2 + 3 + 4) * 2 + 1 + 4 * 2)
        #expect(RoutingFields(scan) == RoutingFields(try parsedObject(body)))
    }

    @Test func illFormedUTF8IsCountedAsTheParserRepairsIt() throws {
        let pieces: [[UInt8]] = [
            [0x80], [0xBF, 0x80], [0xC0, 0xAF], [0xC2], [0xE0, 0x80, 0x80], [0xE0, 0xA0], [0xED, 0xA0, 0x80], [0xF0, 0x90, 0x80],
            [0xF4, 0x90, 0x80, 0x80], [0xF5], [0xFF, 0x41], [0xE2, 0x82], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80],
        ]
        for piece in pieces {
            for suffix in [[], Array(#"\u00e9"#.utf8), Array("x".utf8), [0xA9]] {
                let body = Array(#"{"input":""#.utf8) + piece + suffix + Array(#""}"#.utf8)
                let scan = try RequestBodyScan.scan(body)
                #expect(RoutingFields(scan) == RoutingFields(try parsedObject(body)), "bytes \(piece) then \(suffix)")
            }
        }
    }

    @Test func stringsAreReadRightWhateverTheOffsetOfTheirSpecialBytes() {
        let specials: [[UInt8]] = [
            Array(#"\""#.utf8), Array(#"\\"#.utf8), Array(#"\u00e9"#.utf8), Array("é".utf8), [0x1F], [0x7F], [0xE2, 0x82], [0xFF], [0x22],
        ]
        for length in [7, 8, 9, 16, 23] {
            for position in 0...length {
                for special in specials {
                    var text = Array(String(repeating: "a", count: length).utf8)
                    text.insert(contentsOf: special, at: position)
                    for member in ["input", "model", "other"] {
                        let body = Array(#"{"\#(member)":""#.utf8) + text + Array(#""}"#.utf8)
                        #expect(outcome(scanning: body) == outcome(parsing: body), "\(special) at \(position) of \(length) in \(member)")
                    }
                }
            }
        }
    }

    @Test func whiteSpaceIsAcceptedWhereverJSONAllowsIt() throws {
        let gap = " \t\r\n "
        let body = [
            gap, "{", gap, #""model""#, gap, ":", gap, #""m""#, gap, ",", gap, #""messages""#, gap, ":", gap, "[", gap, "{", gap,
            #""role""#, gap, ":", gap, #""system""#, gap, ",", gap, #""content""#, gap, ":", gap, "[", gap, "{", gap, #""text""#, gap,
            ":", gap, #""hi""#, gap, "}", gap, "]", gap, "}", gap, "]", gap, ",", gap, #""stream_options""#, gap, ":", gap, "{", gap,
            "}", gap, ",", gap, #""max_tokens""#, gap, ":", gap, "5", gap, "}", gap,
        ].joined()
        let scan = try scanning(body)
        #expect(RoutingFields(scan) == RoutingFields(try parsedObject(body)))
        #expect(scan.model == "m")
        #expect(scan.promptBytes == 2)
        #expect(scan.members.map { text(of: $0.valueRange, in: body) }.first == #""m""#)
        #expect(text(of: scan.messages![0].range, in: body).hasPrefix("{") && text(of: scan.messages![0].range, in: body).hasSuffix("}"))
        #expect(scan.streamOptions?.hasMembers == false)
    }

    @Test func duplicateKeysAreAllListedAndTheLastOneCounts() throws {
        let body = #"""
            {"model":"first","model":"second","stream":true,"stream":null,"user":"a","user":5,
             "stream_options":{"include_usage":true},"stream_options":{"include_usage":false,"include_usage":true},
             "messages":[{"role":"user","content":"one"}],"messages":[{"role":"user","role":"system","content":"two","content":[{"text":"three","text":"four!"}]}],
             "input":"abc","input":null,"max_tokens":3,"max_completion_tokens":"x"}
            """#
        let scan = try scanning(body)
        #expect(scan.members.filter { $0.key == "model" }.count == 2)
        #expect(scan.model == "second")
        #expect(scan.stream == nil)
        #expect(!scan.streamHasInvalidType)
        #expect(scan.user == nil)
        #expect(scan.includeUsage == true)
        #expect(scan.streamOptions?.includeUsageRanges.count == 2)
        #expect(scan.messages?.map(\.role) == ["system"])
        #expect(scan.promptBytes == 5)
        #expect(!scan.hasInput)
        #expect(scan.maxTokens == nil, "max_completion_tokens wins even when it is not a number")
        #expect(scan.lastMember(named: "model").map { text(of: $0.valueRange, in: body) } == #""second""#)
        #expect(RoutingFields(scan) == RoutingFields(try parsedObject(body)))
    }

    @Test(
        arguments: [
            (#"{"max_tokens":100}"#, 100), (#"{"max_tokens":-5}"#, 0), (#"{"max_tokens":1e12}"#, 10_000_000),
            (#"{"max_tokens":99.99}"#, 99), (#"{"max_tokens":9999999.99999999999}"#, 10_000_000),
            (#"{"max_tokens":7,"max_completion_tokens":8}"#, 8), (#"{"max_completion_tokens":8,"max_tokens":7}"#, 8),
            (#"{"max_tokens":"7"}"#, nil), (#"{"max_completion_tokens":null,"max_tokens":7}"#, nil), ("{}", nil),
        ] as [(String, Int?)])
    func maxTokensAreClampedLikeTheGatewayReadsThem(body: String, expected: Int?) throws {
        let scan = try scanning(body)
        #expect(scan.maxTokens == expected)
        #expect(RoutingFields(scan) == RoutingFields(try parsedObject(body)))
    }

    @Test func streamOfAnotherTypeIsFlagged() throws {
        #expect(try scanning(#"{"stream":"yes"}"#).streamHasInvalidType)
        #expect(try scanning(#"{"stream":1}"#).streamHasInvalidType)
        #expect(try !scanning(#"{"stream":null}"#).streamHasInvalidType)
        #expect(try scanning(#"{"stream":false}"#).stream == false)
    }

    // MARK: Validation

    @Test(arguments: [
        "", " ", "{", "}", "{\"a\"}", "{\"a\":1,}", "[1,]", "01", "1.", "-", "tru", "nul", "\"unterminated", "\"bad \\x escape\"",
        "\"\\ud800\"", "{} x", "\"tab\tinside\"", "1e999", "{'single': 1}", #"{"a":1}x"#, #"{"model":"\ud83d"}"#, #"{"model":"\udc00"}"#,
        #"{"model":"\ud83d\u0041"}"#, #"{"model":"\ud83d\x"}"#, #"{"a":01}"#, #"{"a":-}"#, #"{"a":1.}"#, #"{"a":1e}"#, #"{"a":1e+}"#,
        #"{"a":.5}"#, #"{"a":+1}"#, #"{"a":tru}"#, #"{"a":True}"#, #"{"a":nulll}"#, #"{"a" 1}"#, #"{"a":1 "b":2}"#, "{,}",
        #"{"a":[1 2]}"#, #"{"messages":[{"content":"\x"}]}"#, "{\"messages\":[{\"content\":\"a\u{1}b\"}]}", #"{"max_tokens":1e999}"#,
        #"{"max_tokens":1.7976931348623159e308}"#, #"{"max_tokens":1.7976931348623157e308}"#, #"{"seed":0e999}"#,
        #"{"seed":0.000001e310}"#, #"{"seed":-1e-99999}"#, #"{"a":"\u12G4"}"#, #"{"a":"\u12"}"#, #"{"a":"\"#, #"{"a":"x"#, "[]", #""x""#,
        "12", #"{"messages":[{"content":[{"text":"a"}]}]} ]"#, #"{"messages":[{"content":[{"text":"a"}]]}"#,
        #"{"stream_options":{"include_usage":true,}}"#, #"{"input":"\/\b"}"#, "{\"a\":1}\u{0}", #"{"a":[],"b":{},"c":""}"#,
        "{\"seed\":\(String(repeating: "9", count: 308))}", "{\"seed\":\(String(repeating: "9", count: 309))}",
        "{\"seed\":\(String(repeating: "1", count: 309))}", "{\"seed\":0.\(String(repeating: "0", count: 400))1e700}",
    ])
    func documentsAreRefusedExactlyWhenTheParserRefusesThem(body: String) {
        #expect(outcome(scanning: Array(body.utf8)) == outcome(parsing: Array(body.utf8)))
    }

    @Test(arguments: [253, 254, 255, 256, 257])
    func nestingIsLimitedAsTheParserLimitsIt(depth: Int) {
        for inner in ["", "1", "{}", #"{"a":1}"#] {
            let nested = String(repeating: "[", count: depth) + inner + String(repeating: "]", count: depth)
            for body in [nested, #"{"metadata":"# + nested + "}", #"{"messages":[{"content":[{"text":"# + nested + "}]}]}"] {
                #expect(outcome(scanning: Array(body.utf8)) == outcome(parsing: Array(body.utf8)), "depth \(depth) \(inner)")
            }
        }
    }

    // MARK: Splicing

    @Test func spliceAppliesReplacementsAndInsertionsInOneCopy() {
        let original = Array("abcdef".utf8)
        var splice = JSONSplice()
        splice.replace(4..<5, with: Array("E".utf8))
        splice.insert(Array("1".utf8), at: 2)
        splice.replace(2..<3, with: Array("C".utf8))
        splice.insert(Array("2".utf8), at: 2)
        splice.remove(0..<1)
        splice.insert(Array("!".utf8), at: 6)
        #expect(String(decoding: splice.apply(to: original), as: UTF8.self) == "b12CdEf!")
        #expect(JSONSplice().apply(to: original) == original)
    }

    @Test func modelIsReplacedAsAnEscapedStringAndOtherBytesStay() throws {
        let body = #"{ "seed" : 9007199254740993, "model" : "client" , "temperature":1.10, "n":1E+2 }"#
        var rewrite = RequestBodyRewrite(scan: try scanning(body))
        rewrite.setModel("up\"stream\\\n\u{1}é")
        let result = String(decoding: rewrite.apply(to: Array(body.utf8)), as: UTF8.self)
        #expect(result == #"{ "seed" : 9007199254740993, "model" : "up\"stream\\\n\u0001é" , "temperature":1.10, "n":1E+2 }"#)
        #expect(try JSONValue.parse(Array(result.utf8))["model"] == .string("up\"stream\\\n\u{1}é"))
    }

    @Test func duplicateModelsLeaveOnlyTheRewrittenOne() throws {
        let body = #"{"model":"a", "seed":1,"model":"b" ,"model":3}"#
        var rewrite = RequestBodyRewrite(scan: try scanning(body))
        rewrite.setModel("c")
        #expect(String(decoding: rewrite.apply(to: Array(body.utf8)), as: UTF8.self) == #"{"seed":1,"model":"c"}"#)
    }

    @Test func aMissingModelIsAdded() throws {
        #expect(try rewritten("{ }") { $0.setModel("m") } == #"{ "model":"m"}"#)
        #expect(try rewritten(#"{"n":1}"#) { $0.setModel("m") } == #"{"n":1,"model":"m"}"#)
    }

    @Test(arguments: [
        (#"{"stream":true}"#, #"{"stream":true,"stream_options":{"include_usage":true}}"#),
        (#"{"stream_options":{}}"#, #"{"stream_options":{"include_usage":true}}"#),
        (#"{"stream_options":{ }}"#, #"{"stream_options":{ "include_usage":true}}"#),
        (#"{"stream_options":{"x":1 }}"#, #"{"stream_options":{"x":1 ,"include_usage":true}}"#),
        (#"{"stream_options":{"include_usage":false}}"#, #"{"stream_options":{"include_usage":true}}"#),
        (
            #"{"stream_options":{"include_usage":null,"x":[1],"include_usage":"no"}}"#,
            #"{"stream_options":{"include_usage":true,"x":[1],"include_usage":true}}"#
        ),
        (#"{"stream_options":null}"#, #"{"stream_options":{"include_usage":true}}"#),
        (#"{"stream_options":"yes"}"#, #"{"stream_options":{"include_usage":true}}"#),
        (#"{"stream_options":[1],"n":2}"#, #"{"stream_options":{"include_usage":true},"n":2}"#),
        (#"{"stream_options":{"include_usage":false},"n":2,"stream_options":{}}"#, #"{"n":2,"stream_options":{"include_usage":true}}"#),
    ])
    func usageIsRequestedInEveryShapeOfStreamOptions(body: String, expected: String) throws {
        let result = try rewritten(body) { $0.includeUsageInStream() }
        #expect(result == expected)
        var tree = try parsedObject(body)
        Reference.includeUsage(in: &tree)
        #expect(try JSONValue.parse(Array(result.utf8)) == .object(tree))
    }

    @Test(arguments: [
        (#"{"temperature":0.2,"seed":9007199254740993}"#, #"{"temperature":0.7,"seed":9007199254740993}"#),
        (#"{"seed":9007199254740993}"#, #"{"seed":9007199254740993,"temperature":0.7}"#),
        ("{}", #"{"temperature":0.7}"#),
        (#"{"temperature":1,"x":0,"temperature":{"a":1}}"#, #"{"x":0,"temperature":0.7}"#),
    ])
    func aMemberIsReplacedOrAdded(body: String, expected: String) throws {
        #expect(try rewritten(body) { $0.setMember("temperature", to: .number(0.7)) } == expected)
    }

    @Test(arguments: [
        (
            #"{"messages":[{"role":"user","content":"hi"},{"role":"system","content":"old"},{"role":"system","content":"2nd"}]}"#,
            #"{"messages":[{"role":"user","content":"hi"},{"role":"system","content":"new\n"},{"role":"system","content":"2nd"}]}"#
        ),
        (
            #"{"messages":[ {"role":"user","content":"hi"} ]}"#,
            #"{"messages":[{"role":"system","content":"new\n"}, {"role":"user","content":"hi"} ]}"#
        ),
        (#"{"messages":[ ]}"#, #"{"messages":[{"role":"system","content":"new\n"} ]}"#),
        (#"{"model":"m"}"#, #"{"model":"m","messages":[{"role":"system","content":"new\n"}]}"#),
        (#"{"messages":"hi"}"#, #"{"messages":[{"role":"system","content":"new\n"}]}"#),
        (#"{"messages":[{"role":"system"}],"n":1,"messages":[7]}"#, #"{"n":1,"messages":[{"role":"system","content":"new\n"},7]}"#),
    ])
    func theSystemPromptReplacesTheFirstSystemMessageOrComesFirst(body: String, expected: String) throws {
        let result = try rewritten(body) { $0.setSystemPrompt("new\n") }
        #expect(result == expected)
        var tree = try parsedObject(body)
        Reference.setSystemPrompt("new\n", in: &tree)
        #expect(try JSONValue.parse(Array(result.utf8)) == .object(tree))
    }

    @Test func laterChangesApplyOnTopOfEarlierOnes() throws {
        let body = #"{"messages":[{"role":"user","content":"hi"}],"stream_options":{"x":1}}"#
        let messages: JSONValue = .array([.object(["role": "assistant", "content": "set"])])
        var rewrite = RequestBodyRewrite(scan: try scanning(body))
        rewrite.setSystemPrompt("first")
        rewrite.setMember("messages", to: messages)
        rewrite.setSystemPrompt("second")
        rewrite.includeUsageInStream()
        rewrite.setMember("stream_options", to: .object(["y": 2]))
        let result = try JSONValue.parse(rewrite.apply(to: Array(body.utf8)))
        #expect(result["messages"] == .array([.object(["role": "system", "content": "second"]), .object(["role": "assistant", "content": "set"])]))
        #expect(result["stream_options"] == .object(["y": 2]))
    }

    @Test func hugeNumbersStayByteIdenticalAfterEverySplice() throws {
        let numbers = [
            "9007199254740993", "-9007199254740993", "123456789012345678901234567890", "1.00000000000000000001", "1e-400", "0.1E+2",
        ]
        let body =
            "{" + numbers.enumerated().map { #""n\#($0.offset)":\#($0.element)"# }.joined(separator: ",")
            + #","messages":[{"role":"user","content":"x","seed":9007199254740993}],"model":"m"}"#
        var rewrite = RequestBodyRewrite(scan: try scanning(body))
        rewrite.setModel("other")
        rewrite.setSystemPrompt("p")
        rewrite.includeUsageInStream()
        rewrite.setMember("temperature", to: 0)
        let result = String(decoding: rewrite.apply(to: Array(body.utf8)), as: UTF8.self)
        for number in numbers {
            #expect(result.contains(":\(number),"))
        }
        #expect(result.contains(#""seed":9007199254740993}"#))
    }

    // MARK: Properties

    @Test func randomBodiesScanAsTheirParsedTreeReads() throws {
        var generator = RequestBodyGenerator(seed: 0x5EED_0001)
        for round in 0..<(Self.rounds ?? 3000) {
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
        for round in 0..<(Self.rounds ?? 3000) {
            var members: [([UInt8], [UInt8])] = []
            for _ in 0..<generator.roll(5) {
                let name = generator.pick(names)
                members.append((generator.key(name), generator.chance(60) ? generator.number() : generator.value(depth: 2)))
            }
            let value = generator.chance(5) ? Array("null".utf8) : generator.chance(5) ? generator.value(depth: 2) : generator.object(members)
            let document = Array(#"{"usage":"#.utf8) + generator.space() + value + Array("}".utf8)
            let found = document.withUnsafeBytes { JSONCountsReader.counts(in: $0, at: 9, named: ("prompt_tokens", "completion_tokens")) }
            let expected: JSONCountsReader.Found? =
                switch try? JSONValue.parse(value) {
                case .null?: .null
                case .object(let object)?: .object(object["prompt_tokens"]?.intValue(), object["completion_tokens"]?.intValue())
                default: nil
                }
            #expect(found == expected, "round \(round): \(String(decoding: value, as: UTF8.self))")
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
        for round in 0..<(Self.rounds ?? 4000) {
            let body = generator.mutate(generator.body())
            let parsed = outcome(parsing: body)
            if case .failure = parsed { refused += 1 }
            #expect(outcome(scanning: body) == parsed, "round \(round): \(body)")
        }
        #expect(refused > 1000, "the mutations break most bodies")
    }

    // MARK: Helpers

    private func scanning(_ body: String) throws -> RequestBodyScan {
        try RequestBodyScan.scan(Array(body.utf8))
    }

    private func parsedObject(_ body: some Collection<UInt8>) throws -> [String: JSONValue] {
        try #require(try JSONValue.parse(body).objectValue)
    }

    private func parsedObject(_ body: String) throws -> [String: JSONValue] {
        try parsedObject(Array(body.utf8))
    }

    private func text(of range: Range<Int>, in body: String) -> String {
        String(decoding: Array(body.utf8)[range], as: UTF8.self)
    }

    private func rewritten(_ body: String, _ change: (inout RequestBodyRewrite) -> Void) throws -> String {
        var rewrite = RequestBodyRewrite(scan: try scanning(body))
        change(&rewrite)
        return String(decoding: rewrite.apply(to: Array(body.utf8)), as: UTF8.self)
    }

    private func outcome(scanning body: [UInt8]) -> Result<RoutingFields?, JSONParseError> {
        Result { () throws(JSONParseError) -> RoutingFields? in
            let scan = try RequestBodyScan.scan(body)
            return scan.isObject ? RoutingFields(scan) : nil
        }
    }

    private func outcome(parsing body: [UInt8]) -> Result<RoutingFields?, JSONParseError> {
        Result { () throws(JSONParseError) -> RoutingFields? in try JSONValue.parse(body).objectValue.map(RoutingFields.init) }
    }

    private func kind(of value: JSONValue) -> JSONValueKind {
        switch value {
        case .null: .null
        case .bool: .bool
        case .number: .number
        case .string: .string
        case .array: .array
        case .object: .object
        }
    }
}

/// The fields the gateway routes on, from a scan or, as the gateway reads them today, from a parsed body.
private struct RoutingFields: Equatable {
    var model: String?
    var stream: Bool?
    var streamHasInvalidType = false
    var user: String?
    var includeUsage: Bool?
    var hasMessages: Bool
    var hasInput: Bool
    var maxTokens: Int?
    var promptBytes: Int
    var roles: [String?]?

    init(_ scan: RequestBodyScan) {
        model = scan.model
        stream = scan.stream
        streamHasInvalidType = scan.streamHasInvalidType
        user = scan.user
        includeUsage = scan.includeUsage
        hasMessages = scan.hasMessages
        hasInput = scan.hasInput
        maxTokens = scan.maxTokens
        promptBytes = scan.promptBytes
        roles = scan.messages?.map(\.role)
    }

    /// As `ClientAPIController` reads a parsed body (`relay` and `estimate`).
    init(_ body: [String: JSONValue]) {
        model = body["model"]?.stringValue
        switch body["stream"] {
        case nil, .null?: stream = nil
        case .bool(let value)?: stream = value
        default: streamHasInvalidType = true
        }
        user = body["user"]?.stringValue
        includeUsage = body["stream_options"]?["include_usage"]?.boolValue
        hasMessages = !(body["messages"]?.arrayValue?.isEmpty ?? true)
        hasInput = body["input"].map { $0 != .null } ?? false
        maxTokens = (body["max_completion_tokens"] ?? body["max_tokens"])?.intValue(clampedTo: 0...10_000_000)
        var characters = 0
        for message in body["messages"]?.arrayValue ?? [] {
            switch message["content"] {
            case .string(let text)?: characters += text.utf8.count
            case .array(let parts)?: characters += parts.reduce(0) { $0 + ($1["text"]?.stringValue?.utf8.count ?? 0) }
            default: break
            }
        }
        if case .string(let input)? = body["input"] { characters += input.utf8.count }
        promptBytes = characters
        roles = body["messages"]?.arrayValue?.map { $0["role"]?.stringValue }
    }
}

/// The gateway's edits of a parsed body (`ClientAPIController.apply` and `relay`), to compare splices with.
private enum Reference {
    static func setSystemPrompt(_ prompt: String, in body: inout [String: JSONValue]) {
        var messages = body["messages"]?.arrayValue ?? []
        let system = JSONValue.object(["role": .string("system"), "content": .string(prompt)])
        if let index = messages.firstIndex(where: { $0["role"]?.stringValue == "system" }) {
            messages[index] = system
        } else {
            messages.insert(system, at: 0)
        }
        body["messages"] = .array(messages)
    }

    static func includeUsage(in body: inout [String: JSONValue]) {
        var options = body["stream_options"]?.objectValue ?? [:]
        options["include_usage"] = .bool(true)
        body["stream_options"] = .object(options)
    }
}

/// Random request bodies as clients might write them, and worse: members in any order, duplicates, nesting, escapes,
/// non-ASCII and ill-formed UTF-8 in strings, odd numbers, white space anywhere.
private struct RequestBodyGenerator {
    var random: SplitMix64

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    mutating func roll(_ count: Int) -> Int {
        Int(random.next() % UInt64(count))
    }

    mutating func chance(_ percent: Int) -> Bool {
        roll(100) < percent
    }

    mutating func pick<Element>(_ choices: [Element]) -> Element {
        choices[roll(choices.count)]
    }

    mutating func space() -> [UInt8] {
        guard chance(25) else { return [] }
        return (0..<1 + roll(3)).map { _ in pick([0x20, 0x09, 0x0A, 0x0D]) }
    }

    mutating func string() -> [UInt8] {
        var text: [UInt8] = [UInt8(ascii: "\"")]
        for _ in 0..<roll(10) {
            switch roll(16) {
            case 0: text += Array(pick([#"\""#, #"\\"#, #"\/"#, #"\b"#, #"\f"#, #"\n"#, #"\r"#, #"\t"#]).utf8)
            case 1: text += escape(UInt32(pick([0x00, 0x1F, 0x41, 0x7F, 0xE9, 0x4E2D, 0xFFFD, 0xD7FF, 0xE000, 0xFFFF, 0x0301])))
            case 2:
                let scalar = UInt32(0x10000 + roll(0x100000))
                text += escape(0xD800 + ((scalar - 0x10000) >> 10)) + escape(0xDC00 + ((scalar - 0x10000) & 0x3FF))
            case 3: text += Array(pick(["é", "中", "😀", "e\u{301}", "\u{212A}"]).utf8)
            case 4 where chance(30): text += pick([[0x80], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF0, 0x9F], [0xFF], [0xC0, 0x80]])
            case 5: text += Array(pick(["model", #"\"model\":\"x\""#, "{", "}", "[", ",", ":", "stream_options"]).utf8)
            default: text += Array(pick(["a", "b", "Hello", " ", "42", "-", "'", "~", "messages"]).utf8)
            }
        }
        text.append(UInt8(ascii: "\""))
        return text
    }

    /// A string's decoded value, for the gateway's own inputs.
    mutating func decodedString() throws -> String {
        try #require(try JSONValue.parse(string()).stringValue)
    }

    private func escape(_ code: UInt32) -> [UInt8] {
        let hex = String(code, radix: 16)
        return Array(#"\u"#.utf8) + Array((String(repeating: "0", count: 4 - hex.count) + hex).utf8)
    }

    /// A member name, sometimes with an escaped letter.
    mutating func key(_ name: String) -> [UInt8] {
        guard chance(10), let letter = name.unicodeScalars.first else { return Array(#""\#(name)""#.utf8) }
        return [UInt8(ascii: "\"")] + escape(letter.value) + Array(name.utf8.dropFirst()) + [UInt8(ascii: "\"")]
    }

    mutating func number() -> [UInt8] {
        if chance(50) { return Array(String(roll(2000) - 100).utf8) }
        return Array(
            pick([
                "0", "-0", "0.5", "-3.75", "1e3", "1E-3", "2.5e+2", "9007199254740993", "123456789012345678901234567890", "1e308",
                "-1e308", "10000001", "9999999.9", "1e-400", "0e999", "4096",
            ]).utf8)
    }

    mutating func scalar() -> [UInt8] {
        switch roll(6) {
        case 0: Array("null".utf8)
        case 1: Array(pick(["true", "false"]).utf8)
        case 2, 3: number()
        default: string()
        }
    }

    mutating func value(depth: Int) -> [UInt8] {
        guard depth > 0, chance(40) else { return scalar() }
        if chance(50) { return array((0..<roll(4)).map { _ in value(depth: depth - 1) }) }
        let names = ["model", "a", "text", "content", "role", "include_usage", "stream", "messages"]
        return object((0..<roll(4)).map { _ in (key(pick(names)), value(depth: depth - 1)) })
    }

    mutating func array(_ elements: [[UInt8]]) -> [UInt8] {
        var text: [UInt8] = [UInt8(ascii: "[")] + space()
        for (index, element) in elements.enumerated() {
            if index > 0 { text += space() + [UInt8(ascii: ",")] + space() }
            text += element
        }
        return text + space() + [UInt8(ascii: "]")]
    }

    mutating func object(_ members: [([UInt8], [UInt8])]) -> [UInt8] {
        var text: [UInt8] = [UInt8(ascii: "{")] + space()
        for (index, member) in members.enumerated() {
            if index > 0 { text += space() + [UInt8(ascii: ",")] + space() }
            text += member.0 + space() + [UInt8(ascii: ":")] + space() + member.1
        }
        return text + space() + [UInt8(ascii: "}")]
    }

    mutating func message() -> [UInt8] {
        guard chance(90) else { return value(depth: 1) }
        var members: [([UInt8], [UInt8])] = []
        for _ in 0..<(chance(10) ? 2 : 1) {
            members.append((key("role"), chance(85) ? Array(#""\#(pick(["system", "user", "assistant", "sys\\u0074em"]))""#.utf8) : scalar()))
        }
        for _ in 0..<(chance(10) ? 2 : chance(90) ? 1 : 0) {
            let content: [UInt8]
            switch roll(10) {
            case 0..<5: content = string()
            case 5..<8: content = array((0..<roll(4)).map { _ in part() })
            default: content = value(depth: 2)
            }
            members.append((key("content"), content))
        }
        if chance(20) { members.append((key(pick(["model", "name", "tool_calls"])), value(depth: 2))) }
        return object(shuffled(members))
    }

    mutating func part() -> [UInt8] {
        guard chance(85) else { return value(depth: 1) }
        var members: [([UInt8], [UInt8])] = [(key("type"), Array(#""text""#.utf8))]
        for _ in 0..<(chance(10) ? 2 : chance(90) ? 1 : 0) {
            members.append((key("text"), chance(85) ? string() : value(depth: 1)))
        }
        return object(shuffled(members))
    }

    mutating func body() -> [UInt8] {
        guard chance(97) else { return space() + value(depth: 3) + space() }
        var members: [([UInt8], [UInt8])] = []
        maybe(90, "model", into: &members) { $0.chance(85) ? Array(#""\#($0.pick(["gpt-4o", "m", "claude"]))""#.utf8) : $0.value(depth: 1) }
        maybe(50, "stream", into: &members) { Array($0.pick(["true", "false", "null", "1", #""yes""#]).utf8) }
        maybe(30, "user", into: &members) { $0.chance(80) ? $0.string() : $0.scalar() }
        maybe(40, "stream_options", into: &members) { generator in
            guard generator.chance(80) else { return generator.value(depth: 1) }
            var options: [([UInt8], [UInt8])] = []
            for _ in 0..<generator.roll(3) {
                options.append((generator.key("include_usage"), Array(generator.pick(["true", "false", "null", #""yes""#]).utf8)))
            }
            if generator.chance(30) { options.append((generator.key("other"), generator.scalar())) }
            return generator.object(generator.shuffled(options))
        }
        maybe(90, "messages", into: &members) { generator in
            guard generator.chance(92) else { return generator.scalar() }
            let messages = (0..<generator.roll(5)).map { _ in generator.message() }
            return generator.array(messages)
        }
        maybe(20, "input", into: &members) { $0.chance(60) ? $0.string() : $0.value(depth: 2) }
        maybe(40, "max_tokens", into: &members) { $0.chance(80) ? $0.number() : $0.scalar() }
        maybe(20, "max_completion_tokens", into: &members) { $0.chance(80) ? $0.number() : $0.scalar() }
        for _ in 0..<roll(4) {
            members.append((key(pick(["seed", "temperature", "metadata", "tools", "n", "mod\u{e9}l"])), value(depth: 3)))
        }
        return space() + object(shuffled(members)) + space()
    }

    /// Adds a member named `name` `percent` times in a hundred, now and then twice.
    mutating func maybe(_ percent: Int, _ name: String, into members: inout [([UInt8], [UInt8])], _ make: (inout Self) -> [UInt8]) {
        guard chance(percent) else { return }
        for _ in 0..<(chance(10) ? 2 : 1) { members.append((key(name), make(&self))) }
    }

    mutating func shuffled<Element>(_ elements: [Element]) -> [Element] {
        var elements = elements
        elements.shuffle(using: &random)
        return elements
    }

    /// A body with one to three bytes inserted, replaced or removed, or cut short.
    mutating func mutate(_ body: [UInt8]) -> [UInt8] {
        var body = body
        let interesting = Array(#"{}[]":,\/ 0123456789-+.eEtrufalsnu"#.utf8) + [0x00, 0x09, 0x0A, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]
        for _ in 0..<1 + roll(3) where !body.isEmpty {
            let at = roll(body.count)
            switch roll(10) {
            case 0..<3: body.remove(at: at)
            case 3..<6: body.insert(pick(interesting), at: at)
            case 6..<9: body[at] = pick(interesting)
            default: body.removeSubrange(at...)
            }
        }
        return body
    }
}
