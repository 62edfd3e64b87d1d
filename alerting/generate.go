package alerting

//go:generate go run ../cmd/faultline-gen rules -catalog ../schema/catalog.json -out ../deploy/prometheus/rules/faultline.rules.yml -runbooks ../docs/runbooks
