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
    static let accessDenied = BrokerError.Code(name: "AccessDeniedException", queryCode: "AccessDenied", httpStatus: 403)
    /// A request that changes state without a SigV4 `Authorization` header.
    static let missingAuthenticationToken = BrokerError.Code(name: "MissingAuthenticationTokenException",
                                                             queryCode: "MissingAuthenticationToken", httpStatus: 403)
    /// A request body over the server's limit.
    static let requestTooLarge = BrokerError.Code(name: "RequestEntityTooLarge", httpStatus: 413)
    /// SNS: the caller may not do this (an unsigned Unsubscribe of a subscription confirmed with
    /// `AuthenticateOnUnsubscribe`).
    static let authorizationError = BrokerError.Code(name: "AuthorizationErrorException", queryCode: "AuthorizationError",
                                                     httpStatus: 403)
    /// The server holds as many request bodies as it may.
    static let serviceUnavailable = BrokerError.Code(name: "ServiceUnavailable", httpStatus: 503)
    /// Anything unexpected: the server's fault, never the caller's.
    static let internalFailure = BrokerError.Code(name: "InternalFailure", queryCode: "InternalError", httpStatus: 500)

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

    /// `Sender` for the caller's faults, `Receiver` for the server's.
    var fault: String { httpStatus >= 500 ? "Receiver" : "Sender" }
}
