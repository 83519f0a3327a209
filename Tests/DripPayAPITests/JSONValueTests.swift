import Foundation
import Testing

@testable import DripPayModels

/// `JSONNode` over `JSONValue` (JSONDecoder) reads what it read over JSONSerialization.
@Suite struct JSONValueTests {
    @Test func parsesEveryKindOfValue() throws {
        let node = try JSONNode.parse(
            Array(#"{"s":"x","i":42,"f":1.5,"b":true,"n":null,"a":[1,"two"],"o":{"k":"v"}}"#.utf8))
        #expect(try node.string("s") == "x")
        #expect(try node.field("i").int() == 42)
        #expect(try node.field("n").isNull)
        #expect(try node.optionalField("n") == nil)
        #expect(try node.optionalField("absent") == nil)
        #expect(try node.field("a").array().count == 2)
        #expect(try node.field("o").string("k") == "v")
        #expect(try node.field("a").array()[1].string() == "two")
    }

    @Test func namesThePathOfWhatIsMistyped() throws {
        let node = try JSONNode.parse(Array(#"{"f":1.5,"s":"7","b":true,"a":[{"x":1}]}"#.utf8))
        #expect(throws: DecodeFailure.self) { try node.field("f").int() }
        #expect(throws: DecodeFailure.self) { try node.field("s").int() }
        #expect(throws: DecodeFailure.self) { try node.field("b").string() }
        do {
            _ = try node.field("a").array()[0].string("x")
            Issue.record("a number read as a string")
        } catch {
            #expect(error.expected == "field 'a[0].x' to be a string")
        }
    }

    @Test func acceptsAFragmentAndRejectsWhatIsNotJSON() throws {
        #expect(try JSONNode.parse(Array("\"only\"".utf8)).string() == "only")
        #expect(throws: DecodeFailure.self) { try JSONNode.parse(Array("<html>".utf8)) }
    }

    @Test func readsALaravelErrorBody() {
        let e = LaravelError(bytes: Array(#"{"message":"bad","errors":{"total":["must be positive"],"odd":3}}"#.utf8))
        #expect(e.message == "bad")
        #expect(e.fields["total"] == ["must be positive"])
        #expect(e.fields["odd"] == [])
        #expect(LaravelError(bytes: Array("[]".utf8)).message == nil)
    }
}
