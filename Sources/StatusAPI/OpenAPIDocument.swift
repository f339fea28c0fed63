/// The OpenAPI 3 document of the `:5220` API, served at `/openapi.json`; `docs/openapi.json` is
/// the same text (a test checks they match).
enum OpenAPIDocument {
    static let json = """
        {"openapi": "3.0.3", "info": {"title": "resource-watcher status API", "version": "0.1.0"}, "paths": {}}
        """
}
