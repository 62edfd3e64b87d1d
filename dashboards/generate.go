package dashboards

//go:generate go run ../cmd/faultline-gen dashboards -out json
