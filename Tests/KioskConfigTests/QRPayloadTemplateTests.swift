import Testing

@testable import KioskConfig

@Suite("QR payload template")
struct QRPayloadTemplateTests {
    @Test func everyPlaceholderIsReplacedByItsValue() throws {
        let template = try QRPayloadTemplate(
            "{reference}|{provider_invoice_id}|{total}|{currency}|{qr_code_image_url}|{trade_no}|{machine_id}")
        let rendered = template.render([
            .reference: "9a1b", .providerInvoiceID: "strike-7", .total: "1.50", .currency: "USD",
            .qrCodeImageURL: "https://img/x.png", .tradeNo: "VVM-005-000042", .machineID: "VVM-005",
        ])
        #expect(rendered == "9a1b|strike-7|1.50|USD|https://img/x.png|VVM-005-000042|VVM-005")
        #expect(template.placeholders == QRPayloadTemplate.Placeholder.allCases)
    }

    @Test func textAroundPlaceholdersIsKept() throws {
        let template = try QRPayloadTemplate("https://pay.example.com/i/{reference}?m={machine_id}")
        #expect(template.render([.reference: "abc", .machineID: "M1"]) == "https://pay.example.com/i/abc?m=M1")
    }

    @Test func payloadWithoutPlaceholdersRendersAsWritten() throws {
        #expect(try QRPayloadTemplate("lightning:static").render([:]) == "lightning:static")
    }

    @Test func unknownPlaceholderIsRejected() {
        #expect(throws: QRPayloadTemplate.ParseError.unknownPlaceholder("ref")) { try QRPayloadTemplate("x/{ref}") }
    }

    @Test func unclosedBraceIsRejectedWithItsColumn() {
        #expect(throws: QRPayloadTemplate.ParseError.unclosedBrace(column: 3)) { try QRPayloadTemplate("x/{reference") }
    }

    @Test func strayClosingBraceIsRejectedWithItsColumn() {
        #expect(throws: QRPayloadTemplate.ParseError.strayClosingBrace(column: 2)) { try QRPayloadTemplate("x}") }
    }

    @Test func emptyPayloadIsRejected() {
        #expect(throws: QRPayloadTemplate.ParseError.empty) { try QRPayloadTemplate("") }
    }
}
