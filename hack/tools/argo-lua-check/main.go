// Command argo-lua-check runs Argo CD resource customizations (health.lua, actions) the way Argo CD runs them, so
// that CI can test them without an Argo CD: on gopher-lua, the Lua 5.1 VM Argo CD embeds, with its VM set up as
// Argo CD's util/lua package does it.
//
//	argo-lua-check [-restricted] [-now TIME] test DIR               run DIR/health_test.yaml and DIR/actions/action_test.yaml
//	argo-lua-check [-restricted] [-now TIME] health SCRIPT OBJECT   print {"status","message"}
//	argo-lua-check [-restricted] [-now TIME] action SCRIPT OBJECT   print the object the action returns (JSON)
//	argo-lua-check [-restricted] [-now TIME] discovery SCRIPT OBJECT  print the actions discovery.lua offers (JSON)
//
// OBJECT is a YAML or JSON file, or "-" for stdin. The VM, as in Argo CD:
//   - the object is the global `obj`; the script's last returned value must be a table, which is encoded to JSON
//     with layeh.com/gopher-json and decoded into the result;
//   - a health status other than Healthy, Progressing, Degraded, Suspended, Missing or Unknown becomes
//     Unknown / "Lua returned an invalid health status";
//   - a script gets 1 second (a context deadline on the VM);
//   - -restricted gives the libraries Argo CD gives the scripts an admin puts in argocd-cm (unless
//     resource.customizations.useOpenLibs is set): only package, base and table, plus a safe os with time and date,
//     which, as in Argo CD, is reachable only through `local os = require("os")`: Argo CD registers those two
//     functions under the table library's name, which gopher-lua ignores for a library already loaded, so there is
//     no global `os` (and no table.date). Also the json module (require("json")). No string, math or io library.
//     Without -restricted every standard library is open, as for Argo CD's built-in scripts and its own tests.
//
// Time: os.date and os.time are gopher-lua's own functions (the ones Argo CD's safe os was copied from). -now fixes
// the clock they read, so that an action that stamps the time has a reproducible output; `test` runs with the fixed
// instant 2001-02-03T04:05:06Z unless -now says otherwise (every field of it differs, so a wrong strftime directive
// shows), and the expected outputs of action tests carry that instant. `health`, `action` and `discovery` read the
// real clock unless -now is given.
//
// Exit status: 0 when everything passed (test) or the script gave a valid result; 1 otherwise; 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/yaml"
)

const (
	scriptTimeout       = time.Second
	invalidHealthStatus = "Lua returned an invalid health status"
	defaultTestClock    = "2001-02-03T04:05:06Z"
)

var validHealth = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

type options struct {
	restricted bool
	// now is the instant os.date/os.time read; nil means the real clock.
	now *time.Time
}

func main() {
	restricted := flag.Bool("restricted", false, "only the libraries argocd-cm scripts get (package, base, table, safe os)")
	nowFlag := flag.String("now", "", "fix the clock of os.date/os.time to this RFC 3339 instant")
	flag.Usage = usage
	flag.Parse()
	args := flag.Args()
	if len(args) < 1 {
		usage()
		os.Exit(2)
	}
	opts := options{restricted: *restricted}
	clock := *nowFlag
	if clock == "" && args[0] == "test" {
		clock = defaultTestClock
	}
	if clock != "" {
		instant, err := time.Parse(time.RFC3339, clock)
		if err != nil {
			fmt.Fprintln(os.Stderr, "argo-lua-check: -now:", err)
			os.Exit(2)
		}
		opts.now = &instant
	}
	var err error
	switch {
	case args[0] == "test" && len(args) == 2:
		err = runTests(args[1], opts)
	case args[0] == "health" && len(args) == 3:
		err = printResult(args[1], args[2], opts, health)
	case args[0] == "action" && len(args) == 3:
		err = printResult(args[1], args[2], opts, action)
	case args[0] == "discovery" && len(args) == 3:
		err = printResult(args[1], args[2], opts, discovery)
	default:
		usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "argo-lua-check:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprint(os.Stderr, `usage: argo-lua-check [-restricted] [-now RFC3339] test DIR
       argo-lua-check [-restricted] [-now RFC3339] health|action|discovery SCRIPT OBJECT   (OBJECT "-" is stdin)
`)
}

// ---- the VM ----

// run executes script with obj as the global `obj` and returns the VM and the script's last value. The caller
// closes the VM.
func run(obj map[string]any, script string, opts options) (*lua.LState, lua.LValue, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: opts.restricted})
	libs := []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openSafeOs(opts)},
	}
	for _, lib := range libs {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			L.Close()
			return nil, nil, err
		}
	}
	// `local os = require("os")` gets the safe os; without -restricted the full os library was loaded first and
	// require returns that one, as in Argo CD.
	L.PreloadModule(lua.OsLibName, safeOsLoader(opts))
	luajson.Preload(L)
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		L.Close()
		return nil, nil, err
	}
	return L, L.Get(-1), nil
}

// safeOsFunctions are os.time and os.date as gopher-lua implements them, reading the fixed clock when there is one.
func safeOsFunctions(opts options) map[string]lua.LGFunction {
	full := lua.NewState()
	defer full.Close()
	osTable := full.GetGlobal(lua.OsLibName).(*lua.LTable)
	realDate := osTable.RawGetString("date").(*lua.LFunction).GFunction
	realTime := osTable.RawGetString("time").(*lua.LFunction).GFunction
	if opts.now == nil {
		return map[string]lua.LGFunction{"time": realTime, "date": realDate}
	}
	fixed := lua.LNumber(opts.now.Unix())
	return map[string]lua.LGFunction{
		"time": func(L *lua.LState) int {
			if L.GetTop() == 0 {
				L.Push(fixed)
				return 1
			}
			return realTime(L)
		},
		"date": func(L *lua.LState) int {
			if L.GetTop() >= 2 { // an explicit time: nothing to fix
				return realDate(L)
			}
			format := lua.LString("%c")
			if L.GetTop() == 1 {
				format = lua.LString(L.CheckString(1))
			}
			L.SetTop(0)
			L.Push(format)
			L.Push(fixed)
			return realDate(L)
		},
	}
}

// openSafeOs registers the safe functions under the table library's name, as Argo CD's OpenSafeOs does. The table
// library is loaded by then, and gopher-lua's RegisterModule returns a loaded module unchanged, so this adds
// nothing: what it reproduces is that a restricted script has no global `os` and must require("os").
func openSafeOs(opts options) lua.LGFunction {
	functions := safeOsFunctions(opts)
	return func(L *lua.LState) int {
		L.Push(L.RegisterModule(lua.TabLibName, functions))
		return 1
	}
}

func safeOsLoader(opts options) lua.LGFunction {
	functions := safeOsFunctions(opts)
	return func(L *lua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), functions))
		return 1
	}
}

// toLua converts a decoded JSON/YAML value to Lua, as Argo CD hands an unstructured object to its scripts: maps
// become tables, lists become arrays, numbers LNumber, null nil.
func toLua(L *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case []any:
		array := L.CreateTable(len(v), 0)
		for _, item := range v {
			array.Append(toLua(L, item))
		}
		return array
	case map[string]any:
		table := L.CreateTable(0, len(v))
		for key, item := range v {
			table.RawSetH(lua.LString(key), toLua(L, item))
		}
		return table
	}
	return lua.LNil
}

// resultJSON runs script and returns its table result encoded as JSON.
func resultJSON(obj map[string]any, script string, opts options) ([]byte, error) {
	L, value, err := run(obj, script, opts)
	if err != nil {
		return nil, err
	}
	defer L.Close()
	if value.Type() != lua.LTTable {
		return nil, fmt.Errorf("expect table output from Lua script, not %s", value.Type())
	}
	return luajson.Encode(value)
}

// ---- health, action, discovery ----

type healthStatus struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func health(obj map[string]any, script string, opts options) (any, error) {
	encoded, err := resultJSON(obj, script, opts)
	if err != nil {
		return nil, err
	}
	var result healthStatus
	if string(encoded) == "[]" { // an empty table encodes as an empty array: no status at all
		return nil, errors.New("the script returned an empty table")
	}
	if err := json.Unmarshal(encoded, &result); err != nil {
		return nil, err
	}
	if !validHealth[result.Status] {
		return healthStatus{Status: "Unknown", Message: invalidHealthStatus}, errors.New(invalidHealthStatus)
	}
	return result, nil
}

func action(obj map[string]any, script string, opts options) (any, error) {
	encoded, err := resultJSON(obj, script, opts)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(string(encoded), "[") { // the newer form: a list of {resource, operation}; shown as it is
		var impacted []any
		err := json.Unmarshal(encoded, &impacted)
		return impacted, err
	}
	var result map[string]any
	if err := json.Unmarshal(encoded, &result); err != nil {
		return nil, err
	}
	return restoreEmptyMaps(result, obj), nil
}

// restoreEmptyMaps undoes one lossy step of the Lua round trip, as Argo CD does before it patches: Lua has one
// table type, so an empty map the script left alone comes back as an empty list; where the input had a map, the
// input's value is put back. Recurses through maps and lists present in both.
func restoreEmptyMaps(result, input map[string]any) map[string]any {
	for key, before := range input {
		after, ok := result[key]
		if !ok {
			continue
		}
		switch a := after.(type) {
		case map[string]any:
			if b, ok := before.(map[string]any); ok {
				result[key] = restoreEmptyMaps(a, b)
			}
		case []any:
			switch b := before.(type) {
			case map[string]any:
				if len(a) == 0 {
					result[key] = b
				}
			case []any:
				result[key] = restoreEmptyMapsInList(a, b)
			}
		}
	}
	return result
}

func restoreEmptyMapsInList(result, input []any) []any {
	for i := range result {
		if i >= len(input) {
			break
		}
		switch a := result[i].(type) {
		case map[string]any:
			if b, ok := input[i].(map[string]any); ok {
				result[i] = restoreEmptyMaps(a, b)
			}
		case []any:
			if b, ok := input[i].([]any); ok {
				result[i] = restoreEmptyMapsInList(a, b)
			}
		}
	}
	return result
}

type resourceAction struct {
	Name        string `json:"name"`
	Disabled    bool   `json:"disabled"`
	IconClass   string `json:"iconClass,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

func discovery(obj map[string]any, script string, opts options) (any, error) {
	encoded, err := resultJSON(obj, script, opts)
	if err != nil {
		return nil, err
	}
	actions := []resourceAction{}
	if string(encoded) == "[]" { // no action offered
		return actions, nil
	}
	var offered map[string]any
	if err := json.Unmarshal(encoded, &offered); err != nil {
		return nil, err
	}
	for name, value := range offered {
		entry := resourceAction{Name: name}
		if fields, ok := value.(map[string]any); ok {
			entry.Disabled, _ = fields["disabled"].(bool)
			entry.IconClass, _ = fields["iconClass"].(string)
			entry.DisplayName, _ = fields["displayName"].(string)
		}
		actions = append(actions, entry)
	}
	sort.Slice(actions, func(i, j int) bool { return actions[i].Name < actions[j].Name })
	return actions, nil
}

type runner func(obj map[string]any, script string, opts options) (any, error)

func printResult(scriptPath, objectPath string, opts options, fn runner) error {
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		return err
	}
	obj, err := readObject(objectPath)
	if err != nil {
		return err
	}
	result, runErr := fn(obj, string(script), opts)
	if result != nil {
		encoded, err := json.Marshal(result)
		if err != nil {
			return err
		}
		fmt.Println(string(encoded))
	}
	return runErr
}

func readObject(path string) (map[string]any, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(obj) == 0 {
		return nil, fmt.Errorf("%s: no object", path)
	}
	return obj, nil
}

// ---- test: Argo CD's health_test.yaml and actions/action_test.yaml ----

type healthTests struct {
	Tests []struct {
		InputPath    string       `json:"inputPath"`
		HealthStatus healthStatus `json:"healthStatus"`
	} `json:"tests"`
}

type actionTests struct {
	DiscoveryTests []struct {
		InputPath string           `json:"inputPath"`
		Result    []resourceAction `json:"result"`
	} `json:"discoveryTests"`
	ActionTests []struct {
		Action             string `json:"action"`
		InputPath          string `json:"inputPath"`
		ExpectedOutputPath string `json:"expectedOutputPath"`
	} `json:"actionTests"`
}

type tally struct{ passed, failed int }

// report prints one test's verdict: what was tested, and on a failure why.
func (t *tally) report(ok bool, what, why string) {
	if ok {
		t.passed++
		fmt.Printf("PASS %s\n", what)
		return
	}
	t.failed++
	fmt.Printf("FAIL %s: %s\n", what, why)
}

func runTests(dir string, opts options) error {
	var t tally
	found := false
	if data, err := os.ReadFile(filepath.Join(dir, "health_test.yaml")); err == nil {
		found = true
		if err := runHealthTests(dir, data, opts, &t); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	actionsDir := filepath.Join(dir, "actions")
	if data, err := os.ReadFile(filepath.Join(actionsDir, "action_test.yaml")); err == nil {
		found = true
		if err := runActionTests(actionsDir, data, opts, &t); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if !found {
		return fmt.Errorf("%s has neither health_test.yaml nor actions/action_test.yaml", dir)
	}
	fmt.Printf("%d passed, %d failed\n", t.passed, t.failed)
	if t.failed > 0 || t.passed == 0 {
		return fmt.Errorf("%s: %d of %d failed", dir, t.failed, t.passed+t.failed)
	}
	return nil
}

func runHealthTests(dir string, data []byte, opts options, t *tally) error {
	var spec healthTests
	if err := yaml.UnmarshalStrict(data, &spec); err != nil {
		return fmt.Errorf("health_test.yaml: %w", err)
	}
	script, err := os.ReadFile(filepath.Join(dir, "health.lua"))
	if err != nil {
		return err
	}
	for _, test := range spec.Tests {
		obj, err := readObject(filepath.Join(dir, test.InputPath))
		if err != nil {
			return err
		}
		what := "health " + test.InputPath
		got, err := health(obj, string(script), opts)
		if err != nil {
			t.report(false, what, err.Error())
			continue
		}
		want, status := test.HealthStatus, got.(healthStatus)
		t.report(status == want, what+" -> "+status.Status,
			fmt.Sprintf("want %s %q, got %s %q", want.Status, want.Message, status.Status, status.Message))
	}
	return nil
}

func runActionTests(actionsDir string, data []byte, opts options, t *tally) error {
	var spec actionTests
	if err := yaml.UnmarshalStrict(data, &spec); err != nil {
		return fmt.Errorf("action_test.yaml: %w", err)
	}
	for _, test := range spec.DiscoveryTests {
		script, err := os.ReadFile(filepath.Join(actionsDir, "discovery.lua"))
		if err != nil {
			return err
		}
		obj, err := readObject(filepath.Join(actionsDir, test.InputPath))
		if err != nil {
			return err
		}
		what := "discovery " + test.InputPath
		got, err := discovery(obj, string(script), opts)
		if err != nil {
			t.report(false, what, err.Error())
			continue
		}
		want := append([]resourceAction{}, test.Result...)
		sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
		t.report(reflect.DeepEqual(got, want), what, fmt.Sprintf("want %+v, got %+v", want, got))
	}
	for _, test := range spec.ActionTests {
		script, err := os.ReadFile(filepath.Join(actionsDir, test.Action, "action.lua"))
		if err != nil {
			return err
		}
		obj, err := readObject(filepath.Join(actionsDir, test.InputPath))
		if err != nil {
			return err
		}
		expected, err := readObject(filepath.Join(actionsDir, test.ExpectedOutputPath))
		if err != nil {
			return err
		}
		what := fmt.Sprintf("action %s %s -> %s", test.Action, test.InputPath, test.ExpectedOutputPath)
		got, err := action(obj, string(script), opts)
		if err != nil {
			t.report(false, what, err.Error())
			continue
		}
		differences := diff("", normalize(expected), normalize(got))
		t.report(len(differences) == 0, what, "\n    "+strings.Join(differences, "\n    "))
	}
	return nil
}

// normalize gives both sides of a comparison the same number type (float64) through a JSON round trip.
func normalize(value any) any {
	encoded, _ := json.Marshal(value)
	var out any
	_ = json.Unmarshal(encoded, &out)
	return out
}

// diff lists the paths where want and got differ.
func diff(path string, want, got any) []string {
	wantMap, wantIsMap := want.(map[string]any)
	gotMap, gotIsMap := got.(map[string]any)
	if wantIsMap && gotIsMap {
		keys := map[string]bool{}
		for k := range wantMap {
			keys[k] = true
		}
		for k := range gotMap {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			out = append(out, diff(path+"."+k, wantMap[k], gotMap[k])...)
		}
		return out
	}
	if reflect.DeepEqual(want, got) {
		return nil
	}
	w, _ := json.Marshal(want)
	g, _ := json.Marshal(got)
	return []string{fmt.Sprintf("%s: want %s, got %s", path, w, g)}
}
