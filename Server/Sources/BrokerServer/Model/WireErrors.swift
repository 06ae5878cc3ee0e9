import Broker

/// Errors the wire adds to Broker's: protocol-level failures that happen before any operation runs.
extension BrokerError.Code {
    /// JSON body that is not JSON, or a member of the wrong type.
    static let serialization = BrokerError.Code(name: "SerializationException", queryCode: "MalformedInput")
    /// An `X-Amz-Target` that names no SQS operation.
    static let unknownOperation = BrokerError.Code(name: "UnknownOperationException", queryCode: "InvalidAction")
    /// A Query `Action` that names no operation of the service.
    static let invalidAction = BrokerError.Code(name: "InvalidAction")
    /// A Query request without `Action`: AWS answers it as an unknown operation, in Query as in JSON.
    static let missingAction = BrokerError.Code(name: "UnknownOperationException")
    /// A form that is not `application/x-www-form-urlencoded` text.
    static let invalidQueryParameter = BrokerError.Code(name: "InvalidQueryParameter")
    /// SNS's code for a missing required parameter.
    static let snsValidation = BrokerError.Code(name: "ValidationException", queryCode: "ValidationError")
    /// STS's code for a parameter that fails its constraints.
    static let stsValidation = BrokerError.Code(name: "ValidationError")
    /// A cross-site request, or a `Host` the server does not answer.
    static let accessDenied = BrokerError.Code(name: "AccessDeniedException", queryCode: "AccessDenied")
    /// A request that changes state without a SigV4 `Authorization` header.
    static let missingAuthenticationToken = BrokerError.Code(name: "MissingAuthenticationTokenException",
                                                             queryCode: "MissingAuthenticationToken")
    /// A request body over the server's limit.
    static let requestTooLarge = BrokerError.Code(name: "RequestEntityTooLarge")
    /// SNS: the caller may not do this (an unsigned Unsubscribe of a subscription confirmed with
    /// `AuthenticateOnUnsubscribe`).
    static let authorizationError = BrokerError.Code(name: "AuthorizationErrorException", queryCode: "AuthorizationError")
    /// The server holds as many request bodies as it may.
    static let serviceUnavailable = BrokerError.Code(name: "ServiceUnavailable")
    /// Anything unexpected: the server's fault, never the caller's.
    static let internalFailure = BrokerError.Code(name: "InternalFailure", queryCode: "InternalError")

    /// The `__type` of an SQS JSON error. AWS writes SQS's modelled errors in the `com.amazonaws.sqs` namespace and the
    /// common errors of its service framework (bad parameter values, missing parameters, unknown operations, bodies
    /// that do not parse) in `com.amazon.coral.service`; botocore and Soto read the text after `#` either way.
    var jsonType: String {
        let coral: Set<String> = [
            "InvalidParameterValueException", "MissingRequiredParameterException", "UnknownOperationException",
            "SerializationException", "InternalFailure", "RequestEntityTooLarge", "InvalidQueryParameter",
            "InvalidParameterCombination", "AccessDeniedException", "ServiceUnavailable", "MissingAuthenticationTokenException",
        ]
        return (coral.contains(name) ? "com.amazon.coral.service#" : "com.amazonaws.sqs#") + name
    }

    /// The HTTP status AWS answers a code with, for the codes that are not a plain client error (400). The library's
    /// codes carry no transport detail, so the wire keeps their statuses here, beside `jsonType` and `fault`. A code
    /// made elsewhere with the same name and Query code (the signing package's `InternalFailure`, say) is the same
    /// code and answers the same status.
    static let httpStatuses: [BrokerError.Code: Int] = [
        // The library's (SQS, then SNS).
        .purgeQueueInProgress: 403,
        .overLimit: 403,
        .resourceNotFound: 404,
        .notFound: 404,
        .snsResourceNotFound: 404,
        .filterPolicyLimitExceeded: 403,
        // Storage's failure (its codes' other half, ServiceUnavailable, is the wire's own below).
        .storageFailure: 500,
        // The wire's own.
        .accessDenied: 403,
        .missingAuthenticationToken: 403,
        .authorizationError: 403,
        .requestTooLarge: 413,
        .internalFailure: 500,
        .serviceUnavailable: 503,
    ]

    /// The HTTP status of an error answer with this code: 400, the caller's fault, unless ``httpStatuses`` says
    /// otherwise.
    var httpStatus: Int { Self.httpStatuses[self] ?? 400 }

    /// `Sender` for the caller's faults, `Receiver` for the server's.
    var fault: String { httpStatus >= 500 ? "Receiver" : "Sender" }
}
