package web

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDocument is the OpenAPI 3 document of /api/v1, kept by hand next
// to the handlers it describes. openapi_spec_test.go holds it to the route
// table (every /api/v1 route documented, every documented route real) and
// validates real answers against its schemas, so it cannot drift silently.
//
//go:embed openapi.json
var openAPIDocument []byte

// serveOpenAPI answers GET /api/v1/openapi.json. It is public, like the
// source it describes: it holds shapes, never data, and a caller who was
// just refused (401, 400) is sent here to read what to send.
func (h *handler) serveOpenAPI(c *gin.Context) {
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDocument)
}
