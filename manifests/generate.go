package manifests

// Regenerate deploy/kubernetes/base/prometheusrule.yaml and dashboards.yaml from the catalog
// and the dashboards; the deploy tests fail when they are stale.
//go:generate go run ../cmd/faultline-gen kubernetes -catalog ../schema/catalog.json -out ../deploy/kubernetes/base
