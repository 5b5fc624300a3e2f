// Command kstatus-check prints the kstatus of Kubernetes objects, computed as Flux and the cli-utils appliers do.
//
// It reads YAML or JSON objects on stdin (several YAML documents, and `kubectl get -o yaml` / `-o json` Lists,
// whose items are taken one by one) and prints one JSON line per object:
//
//	{"kind":"BrokerToken","name":"github","status":"Current","message":"Resource is Ready"}
//
// The status is what sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute returns: InProgress, Failed, Current,
// Terminating, NotFound or Unknown. It exits 1 when an object cannot be read or Compute fails on it (the line then
// has status "Error"), 2 on bad usage.
//
// Why sigs.k8s.io/cli-utils and not Flux's fork github.com/fluxcd/cli-utils: kstatus is specified and maintained
// upstream (the issue names it), the fork's status package is the same code, and both computed identical results on
// every BrokerToken/connection sample (docs/gitops.md). The fork's newest release (v1.4.0) also needs Go 1.27,
// which this project's toolchain is not; upstream v0.37.2 builds with Go 1.26.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type line struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: kstatus-check < objects.yaml   (YAML or JSON, several documents, or a List)")
		os.Exit(2)
	}
	objects, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-check:", err)
		os.Exit(1)
	}
	out := json.NewEncoder(os.Stdout)
	failed := false
	for _, obj := range objects {
		result, err := status.Compute(obj)
		entry := line{Kind: obj.GetKind(), Name: obj.GetName()}
		if err != nil {
			entry.Status, entry.Message, failed = "Error", err.Error(), true
		} else {
			entry.Status, entry.Message = result.Status.String(), result.Message
		}
		if err := out.Encode(entry); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus-check:", err)
			os.Exit(1)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// read splits stdin into objects. Each document goes YAML -> JSON -> Unstructured.UnmarshalJSON, which keeps
// integers as int64: decoding into a map with encoding/json would give float64 numbers, and Compute then fails on
// every object ("metadata.generation ... is of the type float64, expected int64").
func read(input io.Reader) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(input))
	var objects []*unstructured.Unstructured
	for index := 0; ; index++ {
		document, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objects, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
		raw, err := yaml.YAMLToJSON(document)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
		if string(raw) == "null" { // an empty document (a stray "---")
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
		if !obj.IsList() {
			objects = append(objects, obj)
			continue
		}
		err = obj.EachListItem(func(item runtime.Object) error {
			objects = append(objects, item.(*unstructured.Unstructured))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
	}
}
