package schema

import (
	_ "embed"

	"github.com/faultline/faultline/catalog"
)

// The generated catalog travels inside every binary, so a container image runs without files
// beside it; TestGeneratedCatalogUpToDate keeps catalog.json itself current.
//
//go:embed catalog.json
var catalogJSON string

// EmbeddedCatalogName is how the embedded catalog is named in errors and logs.
const EmbeddedCatalogName = "embedded schema/catalog.json"

// CatalogJSON returns a copy of the catalog JSON compiled into the binary.
func CatalogJSON() []byte { return []byte(catalogJSON) }

// LoadCatalog loads the catalog at path, or the embedded one when path is empty, and merges
// the overrides at overridePath (none when empty). It is how every command honours
// catalog.path.
func LoadCatalog(path, overridePath string) (*catalog.Catalog, error) {
	if path == "" {
		return catalog.LoadJSON(EmbeddedCatalogName, CatalogJSON(), overridePath)
	}
	return catalog.Load(path, overridePath)
}
