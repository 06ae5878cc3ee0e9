import Broker
@testable import BrokerServer
import Testing

/// The HTTP status and fault of every error code, as AWS answers them. The library's codes carry no status, so the
/// server's table is the only place these live; the golden files and the boto3 suite pin them over the wire too.
@Suite("Wire errors")
struct WireErrorTests {
    @Test("Every error code answers the HTTP status AWS answers it with", arguments: [
        // SQS, the library's
        (BrokerError.Code.queueDoesNotExist, 400), (.queueNameExists, 400), (.queueDeletedRecently, 400),
        (.receiptHandleIsInvalid, 400), (.invalidParameterValue, 400), (.missingParameter, 400),
        (.invalidAttributeName, 400), (.invalidAttributeValue, 400), (.invalidMessageContents, 400),
        (.emptyBatchRequest, 400), (.tooManyEntriesInBatchRequest, 400), (.batchEntryIdsNotDistinct, 400),
        (.invalidBatchEntryId, 400), (.batchRequestTooLong, 400), (.purgeQueueInProgress, 403), (.overLimit, 403),
        (.unsupportedOperation, 400), (.resourceNotFound, 404), (.invalidParameterCombination, 400),
        // SNS, the library's
        (.invalidParameter, 400), (.parameterValueInvalid, 400), (.notFound, 404), (.snsResourceNotFound, 404),
        (.filterPolicyLimitExceeded, 403), (.tagLimitExceeded, 400), (.snsEmptyBatchRequest, 400),
        (.snsTooManyEntriesInBatchRequest, 400), (.snsBatchEntryIdsNotDistinct, 400), (.snsInvalidBatchEntryId, 400),
        (.snsBatchRequestTooLong, 400), (.endpointDisabled, 400), (.platformApplicationDisabled, 400),
        (.verification, 400),
        // The wire's own
        (.serialization, 400), (.unknownOperation, 400), (.invalidAction, 400), (.missingAction, 400),
        (.invalidQueryParameter, 400), (.snsValidation, 400), (.stsValidation, 400), (.accessDenied, 403),
        (.missingAuthenticationToken, 403), (.requestTooLarge, 413), (.authorizationError, 403),
        (.serviceUnavailable, 503), (.internalFailure, 500),
    ])
    func statusOfEveryCode(code: BrokerError.Code, status: Int) {
        #expect(code.httpStatus == status)
        #expect(code.fault == (status >= 500 ? "Receiver" : "Sender"))
    }

    @Test("A code made outside the server answers by its name and Query code, as the signing package's and storage's failures do")
    func codeMadeElsewhereAnswersItsStatus() {
        #expect(BrokerError.Code(name: "InternalFailure", queryCode: "InternalError").httpStatus == 500)
        #expect(BrokerError.Code.storageFailure.httpStatus == 500)
        #expect(BrokerError.Code(name: "SomethingNew").httpStatus == 400)
    }

    @Test("A refusal before the body is read answers the status the connection chose, with the code's own fault")
    func rejectionKeepsTheConnectionsStatus() {
        let request = WireRequest(method: "POST", uri: "/", headers: [("X-Amz-Target", "AmazonSQS.SendMessage")])
        let refusal = BrokerError(.requestTooLarge, "too large")
        #expect(WireService.reject(request, with: refusal, status: 417).status == 417)
        #expect(WireService.reject(request, with: refusal, status: 413).status == 413)
        let unavailable = WireService.reject(request, with: BrokerError(.serviceUnavailable, "busy"), status: 503)
        #expect(unavailable.status == 503)
        #expect(unavailable.header("x-amzn-query-error") == "ServiceUnavailable;Receiver")
    }
}
