import Foundation
import KioskCore
import KioskDisplay
import Testing
import VendSession

@testable import KioskDaemon

/// The coordinator's refund intents become the refund notice with the operator's `[support]`.
@Suite("Refund notice screens")
struct RefundScreenTests {
    static let support = SupportOptions(
        contact: "+1 555 0100 · help@example.com",
        url: "https://help.example.com/refund?ref={customer_reference}", noticeSeconds: 45)

    @Test("refund due, dispense unknown and unresolved carry the customer reference, the contact and the filled-in URL")
    func mapped() {
        let tradeNo = TradeNo("VVM005-20261207T210000Z-000123")
        let reference = tradeNo.customerReference
        let url = "https://help.example.com/refund?ref=\(reference.text)"
        #expect(
            DisplayScreenPort.screen(for: .refundDue(tradeNo: tradeNo), now: Date(), support: Self.support)
                == .refund(
                    RefundNotice(
                        kind: .refundDue, customerReference: reference, contact: "+1 555 0100 · help@example.com",
                        url: url)))
        #expect(
            DisplayScreenPort.screen(for: .dispenseUnknown(tradeNo: tradeNo), now: Date(), support: Self.support)
                == .refund(
                    RefundNotice(
                        kind: .dispenseUnknown, customerReference: reference,
                        contact: "+1 555 0100 · help@example.com", url: url)))
        #expect(
            DisplayScreenPort.screen(for: .unresolved(tradeNo: tradeNo), now: Date(), support: Self.support)
                == .refund(
                    RefundNotice(
                        kind: .unresolved, customerReference: reference, contact: "+1 555 0100 · help@example.com",
                        url: url)))
    }

    @Test("without [support] the notice still gives the reference, with no contact and no QR")
    func bare() {
        let screen = DisplayScreenPort.screen(for: .refundDue(tradeNo: TradeNo("T-1")), now: Date())
        #expect(screen == .refund(RefundNotice(kind: .refundDue, customerReference: CustomerReference(TradeNo("T-1")))))
    }

    @Test("a cancelled vend shows the reason the controller was told")
    func cancelled() {
        #expect(
            DisplayScreenPort.screen(for: .cancelled(reason: .aborted), now: Date()) == .cancelled(reason: .aborted))
    }
}
