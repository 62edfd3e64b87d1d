package dashboards

//go:generate go run ../cmd/faultline-gen dashboards -out json
// The dashboard ConfigMaps of deploy/kubernetes hold the same JSON.
//go:generate go run ../cmd/faultline-gen kubernetes -catalog ../schema/catalog.json -datasources ../deploy/grafana/provisioning/datasources/faultline.yml -out ../deploy/kubernetes/base
