import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct RequestBodyScanTests {
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
}
