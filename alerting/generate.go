package alerting

//go:generate go run ../cmd/faultline-gen rules -catalog ../schema/catalog.json -out ../deploy/prometheus/rules/faultline.rules.yml -runbooks ../docs/runbooks
// The PrometheusRule of deploy/kubernetes holds the same rules.
//go:generate go run ../cmd/faultline-gen kubernetes -catalog ../schema/catalog.json -datasources ../deploy/grafana/provisioning/datasources/faultline.yml -out ../deploy/kubernetes/base
