// Command monitoring-check validates ServiceMonitor and PrometheusRule objects (monitoring.coreos.com/v1) against
// the Prometheus Operator's own API types, for the manifests this repository ships: kubeconform has no schema for
// them offline, and their CRDs come with the Prometheus Operator, not with this project.
//
// It reads YAML documents on stdin and decodes each ServiceMonitor or PrometheusRule strictly into
// github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1 (an unknown field or a value of the
// wrong type is an error, as the API server's strict field validation would report it), then checks the fields
// those CRDs require. It prints one JSON line per document:
//
//	{"kind":"PrometheusRule","name":"snyk-broker-operator","status":"valid","message":""}
//
// status is "valid", "invalid" (with the reason) or "skipped" (another kind). It exits 1 when a document is
// invalid or cannot be read, 2 on bad usage. The rules inside a PrometheusRule are checked by promtool, on the
// file they are generated from (deploy/monitoring/rules.yaml).
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

type line struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

func strict(document []byte, into any) error {
	decoder := json.NewDecoder(bytes.NewReader(document))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(into); err != nil {
		return err
	}
	if decoder.More() {
		return errors.New("trailing data after the object")
	}
	return nil
}

func checkServiceMonitor(document []byte) error {
	var monitor monitoringv1.ServiceMonitor
	if err := strict(document, &monitor); err != nil {
		return err
	}
	if len(monitor.Spec.Selector.MatchLabels) == 0 && len(monitor.Spec.Selector.MatchExpressions) == 0 {
		return errors.New("spec.selector selects nothing")
	}
	for i, endpoint := range monitor.Spec.Endpoints {
		if endpoint.Port == "" && endpoint.TargetPort == nil {
			return fmt.Errorf("spec.endpoints[%d]: neither port nor targetPort", i)
		}
	}
	if len(monitor.Spec.Endpoints) == 0 {
		return errors.New("spec.endpoints is empty")
	}
	return nil
}

func checkPrometheusRule(document []byte) error {
	var rule monitoringv1.PrometheusRule
	if err := strict(document, &rule); err != nil {
		return err
	}
	if len(rule.Spec.Groups) == 0 {
		return errors.New("spec.groups is empty")
	}
	for i, group := range rule.Spec.Groups {
		if group.Name == "" {
			return fmt.Errorf("spec.groups[%d].name is required", i)
		}
		for j, r := range group.Rules {
			if (r.Alert == "") == (r.Record == "") {
				return fmt.Errorf("spec.groups[%d].rules[%d]: exactly one of alert and record is required", i, j)
			}
			if r.Expr.String() == "" {
				return fmt.Errorf("spec.groups[%d].rules[%d].expr is required", i, j)
			}
		}
	}
	return nil
}

func check(document []byte) line {
	var head header
	if err := json.Unmarshal(document, &head); err != nil {
		return line{Status: "invalid", Message: err.Error()}
	}
	result := line{Kind: head.Kind, Name: head.Metadata.Name, Status: "valid"}
	var err error
	switch {
	case head.APIVersion != monitoringv1.SchemeGroupVersion.String():
		result.Status = "skipped"
	case head.Kind == monitoringv1.ServiceMonitorsKind:
		err = checkServiceMonitor(document)
	case head.Kind == monitoringv1.PrometheusRuleKind:
		err = checkPrometheusRule(document)
	default:
		result.Status = "skipped"
	}
	if err == nil && result.Status == "valid" && head.Metadata.Name == "" {
		err = errors.New("metadata.name is required")
	}
	if err != nil {
		result.Status, result.Message = "invalid", err.Error()
	}
	return result
}

func run(input io.Reader, output io.Writer) (bool, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(input))
	encoder := json.NewEncoder(output)
	ok := true
	for {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return ok, nil
		}
		if err != nil {
			return false, err
		}
		document, err := yaml.YAMLToJSON(chunk)
		if err != nil {
			return false, err
		}
		if len(bytes.TrimSpace(document)) == 0 || string(bytes.TrimSpace(document)) == "null" {
			continue
		}
		result := check(document)
		ok = ok && result.Status != "invalid"
		if err := encoder.Encode(result); err != nil {
			return false, err
		}
	}
}

func main() {
	if len(os.Args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: monitoring-check < manifests.yaml")
		os.Exit(2)
	}
	ok, err := run(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "monitoring-check:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}
