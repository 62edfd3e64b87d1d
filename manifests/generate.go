package manifests

// Regenerate deploy/kubernetes/base/prometheusrule.yaml, dashboards.yaml and datasources.yaml
// from the catalog, the dashboards and the Grafana provisioning; the deploy tests fail when they
// are stale. go generate ./alerting and ./dashboards run it too.
//go:generate go run ../cmd/faultline-gen kubernetes -catalog ../schema/catalog.json -datasources ../deploy/grafana/provisioning/datasources/faultline.yml -out ../deploy/kubernetes/base
