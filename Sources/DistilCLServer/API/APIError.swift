import DistilCL
import Foundation
import Hummingbird

/// An error answered as text-embeddings-inference answers it: a status and the JSON body
/// `{"error": message, "error_type": type}`.
public struct APIError: Error, Sendable, CustomStringConvertible {
    /// TEI's `error_type` values, and DistilCL's additions.
    public enum Kind: String, Sendable {
        /// 400: the body is not JSON of the route's shape.
        case malformed = "Malformed"
        /// 400: no input, or an empty text.
        case empty = "Empty"
        /// 413: the body is larger than `--payload-limit`.
        case payloadTooLarge = "PayloadTooLarge"
        /// 422: the input cannot be served as asked (too many inputs, a text too long without
        /// `truncate`, a route the model has no head for, a bad parameter).
        case validation = "Validation"
        /// 429: more than `--max-concurrent-requests` in flight.
        case overloaded = "Overloaded"
        /// 503: not ready (loading, warming up; `/ready` also while draining), or the queue wait
        /// passed `--queue-timeout-ms`.
        case unhealthy = "Unhealthy"
        /// 500: the forward pass failed.
        case backend = "Backend"
        /// 404: no such route.
        case notFound = "NotFound"
        /// 499 (nginx's "client closed request"): the client went away before its request ran;
        /// nobody reads the answer, but `/metrics` counts it.
        case clientGone = "ClientGone"
    }

    public var status: HTTPResponse.Status
    public var kind: Kind
    public var message: String
    /// Extra headers (`Retry-After` on 429 and 503).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ kind: Kind, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.kind = kind
        self.message = message
        self.headers = headers
    }

    public var description: String { "\(status.code) \(kind.rawValue): \(message)" }

    static func malformed(_ why: String) -> APIError { APIError(.badRequest, .malformed, why) }
    static func empty(_ what: String) -> APIError { APIError(.badRequest, .empty, what) }
    static func validation(_ why: String) -> APIError { APIError(.unprocessableContent, .validation, why) }
    static func overloaded(limit: Int) -> APIError {
        APIError(.tooManyRequests, .overloaded, "Model is overloaded: more than \(limit) requests in flight",
                 headers: [.retryAfter: "1"])
    }
    static func notReady(_ why: String) -> APIError {
        APIError(.serviceUnavailable, .unhealthy, why, headers: [.retryAfter: "1"])
    }

    /// The JSON response.
    func response() -> Response {
        var response = jsonResponse(ErrorBody(error: message, error_type: kind.rawValue), status: status)
        for field in headers { response.headers.append(field) }
        return response
    }

    /// Any error as the API answers it: pipeline and model errors are 422 (the input cannot be
    /// served), a batcher timeout 503, Hummingbird's own errors keep their status (413 for a
    /// body over the limit), anything else 500.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case is CancellationError:
            return APIError(HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"), .clientGone,
                            "The client went away before the request ran")
        case let e as PipelineError:
            if case .emptyInput = e { return .empty("\(e)") }
            return .validation("\(e)")
        case let e as ModelError: return .validation("\(e)")
        case let e as BatcherError:
            if case .queueTimeout = e { return .notReady("\(e) (--queue-timeout-ms)") }
            return APIError(.internalServerError, .backend, "\(e)")
        case let e as any HTTPResponseError:
            switch e.status {
            case .contentTooLarge: return APIError(e.status, .payloadTooLarge, "The request body is larger than the payload limit")
            case .notFound: return APIError(e.status, .notFound, "No such route")
            case .badRequest: return .malformed("The request body is not valid JSON of this route's shape")
            default: return APIError(e.status, .malformed, "\(e.status.reasonPhrase)")
            }
        default:
            return APIError(.internalServerError, .backend, "\(error)")
        }
    }
}

struct ErrorBody: Encodable {
    var error: String
    var error_type: String
}

/// `value` as a JSON response (`application/json`).
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf",
                                                                  nan: "nan")
    let data = (try? encoder.encode(value)) ?? Data(#"{"error":"response encoding failed","error_type":"Backend"}"#.utf8)
    return Response(status: status, headers: [.contentType: "application/json"],
                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}
