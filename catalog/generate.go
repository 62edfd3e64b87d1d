package catalog

// Regenerate schema/catalog.json from schema/docs/errors-400.txt and
// catalog/curation.yaml; TestGeneratedCatalogUpToDate fails when it is stale.
//go:generate go run ../cmd/catalog-gen
