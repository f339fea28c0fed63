public import Hummingbird
import NIOCore
import WatcherModel

/// An error answered as DESIGN §3's JSON shape, `{"error": {"code": "...", "message": "..."}}`,
/// with its HTTP status.
public struct APIError: Error, HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    /// A stable machine-readable code ("unauthorized", "invalid_field", ...).
    public let code: String
    /// What is wrong and where, for people.
    public let message: String
    /// Extra headers (`Allow` on 405, `WWW-Authenticate` on 401).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var json = JSONWriter()
        json.beginObject()
        json.key("error")
        json.beginObject()
        json.member("code", code)
        json.member("message", message)
        json.endObject()
        json.endObject()
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json.bytes)))
    }

    static func unauthorized(_ message: String) -> APIError {
        var error = APIError(.unauthorized, code: "unauthorized", message)
        error.headers[.wwwAuthenticate] = "Bearer realm=\"resource-watcher\""
        return error
    }

    static func forbidden(_ message: String) -> APIError { APIError(.forbidden, code: "forbidden", message) }

    static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code: code, message) }
}

/// Maps Hummingbird's own errors (unknown route, body over the limit) to the JSON error shape,
/// and a known path asked with the wrong method to 405 with `Allow`.
struct ErrorShapeMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each route's path and the methods it answers.
    let routes: [String: [HTTPRequest.Method]]

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch is NIOTooManyBytesError {
            // What `request.body.collect(upTo:)` throws; Hummingbird would answer it with an empty 413.
            throw APIError(.contentTooLarge, code: "body_too_large", "the request body is larger than the limit")
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                if let methods = routes[request.uri.path] {
                    var shaped = APIError(
                        .methodNotAllowed,
                        code: "method_not_allowed",
                        "\(request.method.rawValue) is not allowed on \(request.uri.path); use \(methods.map(\.rawValue).joined(separator: ", "))"
                    )
                    shaped.headers[.allow] = methods.map(\.rawValue).joined(separator: ", ")
                    throw shaped
                }
                throw APIError(.notFound, code: "not_found", "no such endpoint: \(request.uri.path)")
            case .contentTooLarge:
                throw APIError(.contentTooLarge, code: "body_too_large", "the request body is larger than the limit")
            default:
                throw APIError(error.status, code: "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
            }
        }
    }
}
