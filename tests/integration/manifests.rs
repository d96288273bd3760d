//! The Kubernetes manifests in `deploy/`: every object validates offline against the
//! Kubernetes OpenAPI schemas in strict mode (an unknown or misspelled field fails), the
//! files agree on the names that tie them together (driver name, sockets, Secret keys,
//! config paths, the broker's address), and the broker configuration shipped in the
//! ConfigMap starts the real broker, whose health answers make the StatefulSet's probes
//! behave as their comments promise.
//!
//! The schemas come from `kubernetes-validate` (PyPI), which bundles them: nothing here
//! needs a cluster or a network. `.ci/run` installs it. Without it these tests fail with
//! the command that installs it; they never skip, so a green run always means the
//! manifests were checked.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use lessor_test_support::broker::{free_port, lessor_binary};
use serde_json::{Value, json};

/// The oldest Kubernetes release the manifests support (docs/kubernetes.md says so) and a
/// current one. kubernetes-validate ships the schemas of both.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.31.0", "1.35.0"];

/// Applied with `kubectl apply -f` on their own, so not in the kustomization.
const OPTIONAL_DIRS: [&str; 2] = ["example", "provider"];

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .join("deploy")
}

/// Every YAML file under `deploy/` except the kustomization, which is not a Kubernetes
/// object; relative paths, sorted.
fn manifest_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            ) && path.file_name().and_then(|n| n.to_str()) != Some("kustomization.yaml")
            {
                found.push(path);
            }
        }
    }
    let root = deploy_dir();
    let mut found = Vec::new();
    walk(&root, &mut found);
    let mut relative: Vec<PathBuf> = found
        .into_iter()
        .map(|path| path.strip_prefix(&root).unwrap().to_path_buf())
        .collect();
    relative.sort();
    relative
}

/// The Python that has kubernetes-validate (and PyYAML, its dependency), checked once.
fn python() -> &'static str {
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    let checked = CHECKED.get_or_init(|| {
        let output = Command::new("python3")
            .args(["-c", "import kubernetes_validate, yaml"])
            .output();
        match output {
            Ok(output) if output.status.success() => Ok(()),
            Ok(output) => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
            Err(error) => Err(format!("python3 cannot be run: {error}")),
        }
    });
    if let Err(detail) = checked {
        panic!(
            "kubernetes-validate is not installed, so the manifests in deploy/ cannot be \
             validated. Install it with `pip install kubernetes-validate` (.ci/run does).\n\
             {detail}"
        );
    }
    "python3"
}

/// Runs kubernetes-validate in strict mode against every pinned version. `Ok` carries the
/// number of (object, version) pairs that passed. Its exit code alone is not enough: an
/// object whose kind or apiVersion has no schema (a misspelled `kind`, a CRD) is only a
/// WARN with exit code 0, and would pass unchecked. Here every WARN fails, and so does a
/// file in which nothing validated.
fn validate(files: &[PathBuf]) -> Result<usize, String> {
    let mut command = Command::new(python());
    command.args(["-m", "kubernetes_validate", "--strict"]);
    for version in KUBERNETES_VERSIONS {
        command.args(["--kubernetes-version", version]);
    }
    let output = command.args(files).output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut passed = 0;
    let mut problems = Vec::new();
    for line in report.lines() {
        if line.starts_with("INFO ") && line.contains(" passed for resource ") {
            passed += 1;
        } else if !line.trim().is_empty() {
            problems.push(line.to_string());
        }
    }
    if !output.status.success() {
        problems.push(format!("kubernetes-validate exited with {}", output.status));
    }
    for file in files {
        let name = file.display().to_string();
        if !report
            .lines()
            .any(|line| line.starts_with(&format!("INFO {name} passed")))
        {
            problems.push(format!("{name}: no object in it was validated"));
        }
    }
    if problems.is_empty() {
        Ok(passed)
    } else {
        Err(format!("{}\n\nfull report:\n{report}", problems.join("\n")))
    }
}

/// The objects in a YAML file, as JSON, parsed by the same PyYAML that the validator uses.
fn objects(file: &Path) -> Vec<Value> {
    let script = "import json, sys, yaml\n\
                  docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]\n\
                  print(json.dumps(docs))";
    let output = Command::new(python())
        .args(["-c", script])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{} does not parse as YAML: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// A YAML text (a volume's `objects` attribute) as JSON, read by PyYAML like the rest.
fn yaml_text(text: &str) -> Value {
    let script = "import json, sys, yaml\nprint(json.dumps(yaml.safe_load(sys.argv[1])))";
    let output = Command::new(python())
        .args(["-c", script, text])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "not YAML: {text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn all_objects() -> Vec<Value> {
    manifest_files()
        .iter()
        .flat_map(|file| objects(&deploy_dir().join(file)))
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} named {name} in deploy/"))
}

fn pod_spec(object: &Value) -> Option<&Value> {
    match object["kind"].as_str()? {
        "Pod" => object.get("spec"),
        "DaemonSet" | "StatefulSet" | "Deployment" | "Job" => object.pointer("/spec/template/spec"),
        _ => None,
    }
}

fn container<'a>(object: &'a Value, name: &str) -> &'a Value {
    pod_spec(object).unwrap()["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {}", object["metadata"]["name"]))
}

/// The value of `--name=value` among a container's args.
fn flag<'a>(container: &'a Value, name: &str) -> &'a str {
    let prefix = format!("--{name}=");
    container["args"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|arg| arg.as_str()?.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("container {} has no {prefix}", container["name"]))
}

fn volume<'a>(object: &'a Value, name: &str) -> &'a Value {
    pod_spec(object).unwrap()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no volume {name} in {}", object["metadata"]["name"]))
}

fn mount_path<'a>(container: &'a Value, volume: &str) -> &'a str {
    container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume)
        .and_then(|m| m["mountPath"].as_str())
        .unwrap_or_else(|| panic!("container {} does not mount {volume}", container["name"]))
}

fn env_value<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("container {} sets no {name}", container["name"]))
}

/// `key = "value"` from the broker's HCL (enough for the flat settings the checks need).
fn hcl_string<'a>(hcl: &'a str, key: &str) -> &'a str {
    hcl.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find_map(|line| {
            let (k, v) = line.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"'))
        })
        .unwrap_or_else(|| panic!("the broker config sets no {key}"))
}

fn broker_config(objects: &[Value]) -> String {
    find(objects, "ConfigMap", "lessor-config")["data"]["config.hcl"]
        .as_str()
        .expect("the ConfigMap carries config.hcl")
        .to_string()
}

#[test]
fn every_manifest_validates_against_the_kubernetes_schemas() {
    let files = manifest_files();
    for expected in [
        "namespace.yaml",
        "broker/statefulset.yaml",
        "csi/csidriver.yaml",
        "csi/daemonset.yaml",
        "example/app.yaml",
    ] {
        assert!(
            files.contains(&PathBuf::from(expected)),
            "deploy/{expected} is missing; found {files:?}"
        );
    }
    let count: usize = files
        .iter()
        .map(|file| objects(&deploy_dir().join(file)).len())
        .sum();
    let paths: Vec<PathBuf> = files.iter().map(|file| deploy_dir().join(file)).collect();
    match validate(&paths) {
        Ok(passed) => assert_eq!(
            passed,
            count * KUBERNETES_VERSIONS.len(),
            "every object must pass against every pinned version"
        ),
        Err(report) => panic!("the manifests in deploy/ do not validate:\n{report}"),
    }
}

/// Copies `file` into a temporary directory, once as it is and once with `from` replaced
/// by `to`, and returns the validator's verdicts on both.
fn validate_altered(
    file: &str,
    from: &str,
    to: &str,
) -> (Result<usize, String>, Result<usize, String>) {
    let text = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
    assert!(
        text.contains(from),
        "deploy/{file} no longer contains {from:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.yaml");
    let altered = dir.path().join("altered.yaml");
    std::fs::write(&original, &text).unwrap();
    std::fs::write(&altered, text.replacen(from, to, 1)).unwrap();
    (validate(&[original]), validate(&[altered]))
}

#[test]
fn a_misspelled_field_fails_validation() {
    let (original, altered) = validate_altered(
        "csi/daemonset.yaml",
        "mountPropagation: Bidirectional",
        "mountPropogation: Bidirectional",
    );
    assert!(original.is_ok(), "{original:?}");
    let report = altered.expect_err("a misspelled field must fail strict validation");
    assert!(
        report.contains("'mountPropogation' was unexpected"),
        "{report}"
    );
}

#[test]
fn a_value_of_the_wrong_type_fails_validation() {
    let (original, altered) =
        validate_altered("broker/statefulset.yaml", "replicas: 1", "replicas: one");
    assert!(original.is_ok(), "{original:?}");
    let report = altered.expect_err("a string where an integer belongs must fail");
    assert!(report.contains("spec.replicas"), "{report}");
}

#[test]
fn a_kind_without_a_schema_fails_validation() {
    // kubernetes-validate itself only warns (exit code 0) about a kind it has no schema
    // for; `validate` must turn that into a failure or a typo in `kind` goes unchecked.
    let (original, altered) =
        validate_altered("csi/daemonset.yaml", "kind: DaemonSet", "kind: DaemonSett");
    assert!(original.is_ok(), "{original:?}");
    let report = altered.expect_err("an unknown kind must fail");
    assert!(report.contains("DaemonSett"), "{report}");
}

#[test]
fn the_kustomization_installs_every_core_manifest() {
    let kustomization = objects(&deploy_dir().join("kustomization.yaml"));
    let listed: BTreeSet<PathBuf> = kustomization[0]["resources"]
        .as_array()
        .expect("kustomization.yaml lists resources")
        .iter()
        .map(|r| PathBuf::from(r.as_str().unwrap()))
        .collect();
    let core: BTreeSet<PathBuf> = manifest_files()
        .into_iter()
        .filter(|file| {
            !OPTIONAL_DIRS
                .iter()
                .any(|dir| file.starts_with(Path::new(dir)))
        })
        .collect();
    assert_eq!(
        listed, core,
        "kustomization.yaml must list exactly the core manifests"
    );
}

#[test]
fn the_manifests_agree_on_names() {
    let objects = all_objects();

    // Everything namespaced lives in lessor-system, except the example app.
    for object in &objects {
        let namespace = object["metadata"]["namespace"].as_str();
        let kind = object["kind"].as_str().unwrap();
        if let Some(namespace) = namespace
            && namespace != "demo"
        {
            assert_eq!(
                namespace, "lessor-system",
                "{kind} {}",
                object["metadata"]["name"]
            );
        }
    }
    find(&objects, "Namespace", "lessor-system");

    // The CSIDriver, the volumes that use it, and the token audience they log in with.
    let driver = find(&objects, "CSIDriver", "csi.lessor.dev");
    let audiences: Vec<&Value> = driver["spec"]["tokenRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["audience"])
        .collect();
    assert_eq!(
        audiences,
        [&json!("lessor")],
        "the driver's default audience"
    );
    assert_eq!(driver["spec"]["requiresRepublish"], true);
    assert_eq!(driver["spec"]["podInfoOnMount"], true);
    assert_eq!(driver["spec"]["attachRequired"], false);
    assert_eq!(driver["spec"]["volumeLifecycleModes"], json!(["Ephemeral"]));
    let csi_volumes: Vec<&Value> = objects
        .iter()
        .filter_map(pod_spec)
        .flat_map(|spec| spec["volumes"].as_array().into_iter().flatten())
        .filter_map(|v| v.get("csi"))
        .collect();
    assert!(
        !csi_volumes.is_empty(),
        "the example must mount a CSI volume"
    );
    for csi in csi_volumes {
        assert_eq!(csi["driver"], "csi.lessor.dev");
        let attributes = &csi["volumeAttributes"];
        assert!(attributes["role"].is_string(), "{csi}");
        // What the driver reads: a list of {path, files: [{name, key?, mode?}]}, modes as
        // octal strings (a bare 0444 is octal to some YAML readers and decimal to others).
        let wanted = yaml_text(attributes["objects"].as_str().unwrap());
        for object in wanted.as_array().unwrap() {
            assert!(object["path"].is_string(), "{object}");
            for file in object["files"].as_array().unwrap() {
                assert!(file["name"].is_string(), "{file}");
                if let Some(mode) = file.get("mode") {
                    let mode = mode
                        .as_str()
                        .unwrap_or_else(|| panic!("unquoted mode {mode}"));
                    assert!(
                        u32::from_str_radix(mode, 8).is_ok_and(|m| m <= 0o777),
                        "{mode}"
                    );
                }
            }
        }
        if let Some(audience) = attributes.get("audience") {
            assert!(audiences.contains(&audience), "{audience} is not requested");
        }
    }

    // The node plugin: kubelet, the registrar, the probe and the driver find one socket.
    let daemonset = find(&objects, "DaemonSet", "lessor-csi");
    let plugin = container(daemonset, "lessor-csi");
    let registrar = container(daemonset, "node-driver-registrar");
    let probe = container(daemonset, "liveness-probe");
    let socket_host_dir = volume(daemonset, "socket-dir")["hostPath"]["path"]
        .as_str()
        .unwrap();
    assert_eq!(socket_host_dir, "/var/lib/kubelet/plugins/csi.lessor.dev");
    assert_eq!(
        flag(registrar, "kubelet-registration-path"),
        format!("{socket_host_dir}/csi.sock")
    );
    let socket = format!("{}/csi.sock", mount_path(plugin, "socket-dir"));
    assert_eq!(flag(plugin, "endpoint"), format!("unix://{socket}"));
    assert_eq!(flag(registrar, "csi-address"), socket);
    assert_eq!(flag(probe, "csi-address"), socket);
    assert_eq!(mount_path(registrar, "registration-dir"), "/registration");
    assert_eq!(
        mount_path(probe, "socket-dir"),
        mount_path(plugin, "socket-dir")
    );
    let pods_mount = plugin["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == "/var/lib/kubelet/pods")
        .expect("the driver mounts kubelet's pods dir");
    assert_eq!(pods_mount["mountPropagation"], "Bidirectional");
    assert_eq!(plugin["securityContext"]["privileged"], true);
    assert_eq!(flag(plugin, "node-id"), "$(NODE_NAME)");
    assert_eq!(
        env_value(plugin, "NODE_NAME")["valueFrom"],
        json!({"fieldRef": {"fieldPath": "spec.nodeName"}})
    );
    let health_port: u64 = flag(probe, "health-port").parse().unwrap();
    assert!(
        plugin["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "healthz" && p["containerPort"] == health_port)
    );

    // Both driver flavours reach the broker through its client Service, trusting the CA
    // from the broker's own TLS Secret.
    let statefulset = find(&objects, "StatefulSet", "lessor");
    let broker = container(statefulset, "lessor");
    let listen_port: u16 = hcl_string(&broker_config(&objects), "address")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let service = find(&objects, "Service", "lessor");
    assert_eq!(service["spec"]["ports"][0]["port"], listen_port);
    assert_eq!(
        service["spec"]["selector"],
        statefulset["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(broker["ports"][0]["containerPort"], listen_port);
    let expected_address = format!("https://lessor.lessor-system.svc:{listen_port}");
    for name in ["lessor-csi", "lessor-csi-provider"] {
        let daemonset = find(&objects, "DaemonSet", name);
        let plugin = container(daemonset, "lessor-csi");
        assert_eq!(flag(plugin, "broker-address"), expected_address);
        let ca = volume(daemonset, "broker-ca");
        assert_eq!(ca["secret"]["secretName"], "lessor-tls");
        assert_eq!(
            flag(plugin, "broker-ca-cert"),
            format!(
                "{}/{}",
                mount_path(plugin, "broker-ca"),
                ca["secret"]["items"][0]["path"].as_str().unwrap()
            )
        );
        assert_eq!(ca["secret"]["items"][0]["key"], "ca.crt");
    }
    let provider = container(
        find(&objects, "DaemonSet", "lessor-csi-provider"),
        "lessor-csi",
    );
    assert_eq!(
        flag(provider, "provider-dir"),
        mount_path(provider, "provider-dir")
    );

    // The broker: its -config file and the TLS files the config names all come from the
    // projected volume, and the headless Service governs the StatefulSet.
    assert_eq!(
        broker["args"],
        json!(["server", "-config", "/etc/lessor/config.hcl"])
    );
    let config_mount = mount_path(broker, "config");
    let projected = volume(statefulset, "config")["projected"]["sources"]
        .as_array()
        .unwrap();
    let mut provided = BTreeSet::new();
    for source in projected {
        let items = if let Some(map) = source.get("configMap") {
            let object = find(&objects, "ConfigMap", map["name"].as_str().unwrap());
            for item in map["items"].as_array().unwrap() {
                let key = item["key"].as_str().unwrap();
                assert!(
                    object["data"].get(key).is_some(),
                    "the ConfigMap has no {key}"
                );
            }
            map
        } else {
            // Created by the operator (docs/kubernetes.md), so there is no object to check.
            assert_eq!(source["secret"]["name"], "lessor-tls");
            &source["secret"]
        };
        for item in items["items"].as_array().unwrap() {
            provided.insert(format!("{config_mount}/{}", item["path"].as_str().unwrap()));
        }
    }
    let hcl = broker_config(&objects);
    for path in [
        "/etc/lessor/config.hcl",
        hcl_string(&hcl, "tls_cert_file"),
        hcl_string(&hcl, "tls_key_file"),
        env_value(broker, "LESSOR_CACERT")["value"]
            .as_str()
            .unwrap(),
    ] {
        assert!(
            provided.contains(path),
            "{path} is not mounted; {provided:?}"
        );
    }
    let storage = Path::new(hcl_string(&hcl, "path"));
    assert!(storage.starts_with(mount_path(broker, "data")));
    assert_eq!(
        statefulset["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        "data"
    );
    let headless = find(&objects, "Service", "lessor-internal");
    assert_eq!(statefulset["spec"]["serviceName"], "lessor-internal");
    assert_eq!(headless["spec"]["clusterIP"], "None");
    assert_eq!(
        pod_spec(statefulset).unwrap()["serviceAccountName"],
        "lessor"
    );
    let binding = find(&objects, "ClusterRoleBinding", "lessor-tokenreview");
    assert_eq!(binding["roleRef"]["name"], "system:auth-delegator");
    assert_eq!(
        binding["subjects"][0],
        json!({"kind": "ServiceAccount", "name": "lessor", "namespace": "lessor-system"})
    );
}

/// What kubelet makes of an HTTP probe answer: 200–399 succeeds.
fn probe_succeeds(status: reqwest::StatusCode) -> bool {
    (200..400).contains(&status.as_u16())
}

/// The real broker running the shipped config, with only its directories and port moved
/// into a sandbox. Killed on drop.
struct ShippedBroker {
    child: tokio::process::Child,
    port: u16,
    log_file: PathBuf,
    client: reqwest::Client,
}

impl ShippedBroker {
    /// Starts it and waits until `probe_path` answers. Another process on the machine may
    /// take the free port first; then it tries again on another.
    async fn start(hcl: &str, probe_path: &str) -> (Self, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&tls).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ])
        .unwrap();
        std::fs::write(tls.join("tls.crt"), certified.cert.pem()).unwrap();
        std::fs::write(tls.join("tls.key"), certified.signing_key.serialize_pem()).unwrap();
        let client = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
            )
            .build()
            .unwrap();

        for attempt in 0..5 {
            let port = free_port().unwrap();
            // Every rewrite must hit, or the shipped config has drifted from this test.
            let mut config = hcl.to_string();
            for (from, to) in [
                ("/var/lib/lessor/", format!("{}/", data.display())),
                ("/etc/lessor/tls/", format!("{}/", tls.display())),
                ("0.0.0.0:8200", format!("127.0.0.1:{port}")),
            ] {
                assert!(
                    config.contains(from),
                    "the broker config no longer has {from}"
                );
                config = config.replace(from, &to);
            }
            let config_file = dir.path().join("config.hcl");
            std::fs::write(&config_file, &config).unwrap();
            let log_file = dir.path().join(format!("broker-{attempt}.log"));
            let log = std::fs::File::create(&log_file).unwrap();
            let mut command = tokio::process::Command::new(lessor_binary().await.unwrap());
            command
                .args(["server", "-config"])
                .arg(&config_file)
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .kill_on_drop(true);
            // The environment overrides the file; this test is about the file.
            for variable in [
                "LESSOR_LISTEN_ADDRESS",
                "LESSOR_PG_CONNECTION_URL",
                "LESSOR_LOG_LEVEL",
                "LESSOR_LOG_FORMAT",
                "LESSOR_API_ADDR",
            ] {
                command.env_remove(variable);
            }
            let mut broker = ShippedBroker {
                child: command.spawn().unwrap(),
                port,
                log_file,
                client: client.clone(),
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(exit) = broker.child.try_wait().unwrap() {
                    let logs = broker.logs();
                    if logs.contains("Address already in use") {
                        break;
                    }
                    panic!("the broker refused the shipped config ({exit}):\n{logs}");
                }
                match broker.status(probe_path).await {
                    Ok(_) => return (broker, dir),
                    Err(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(error) => {
                        panic!("the broker never answered ({error}):\n{}", broker.logs())
                    }
                }
            }
        }
        panic!("no free port for the broker after 5 attempts");
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    async fn status(&self, path: &str) -> reqwest::Result<reqwest::StatusCode> {
        Ok(self.client.get(self.url(path)).send().await?.status())
    }

    async fn put(&self, path: &str, body: Value) -> Value {
        let reply = self.client.put(self.url(path)).json(&body).send().await;
        reply.unwrap().json().await.unwrap()
    }
}

#[tokio::test]
async fn the_configmap_config_starts_a_broker_that_the_probes_read_correctly() {
    let objects = all_objects();
    let statefulset = find(&objects, "StatefulSet", "lessor");
    let broker = container(statefulset, "lessor");
    let probe_path = |probe: &str| {
        let get = &broker[probe]["httpGet"];
        assert_eq!(get["scheme"], "HTTPS", "{probe}");
        get["path"].as_str().unwrap().to_string()
    };
    let (ready, alive) = (probe_path("readinessProbe"), probe_path("livenessProbe"));
    let (mut broker, _dir) = ShippedBroker::start(&broker_config(&objects), &alive).await;
    let probes = async |broker: &ShippedBroker| {
        let alive = broker.status(&alive).await.unwrap();
        let ready = broker.status(&ready).await.unwrap();
        (probe_succeeds(alive), probe_succeeds(ready))
    };

    // Uninitialised and then sealed: alive (kubelet must not restart a broker that waits
    // for its operators), not ready (no client is sent to it).
    assert_eq!(probes(&broker).await, (true, false), "uninitialised");
    let init = broker
        .put(
            "/v1/sys/init",
            json!({"secret_shares": 1, "secret_threshold": 1}),
        )
        .await;
    let share = init["keys_base64"][0].as_str().unwrap().to_string();
    assert_eq!(probes(&broker).await, (true, false), "sealed");

    // Unsealed: ready, so the `lessor` Service sends clients to it.
    let unseal = broker.put("/v1/sys/unseal", json!({"key": share})).await;
    assert_eq!(unseal["sealed"], false, "{unseal}");
    assert_eq!(probes(&broker).await, (true, true), "unsealed");

    // The shipped log format is JSON: one object per line.
    broker.child.kill().await.unwrap();
    let logs = broker.logs();
    assert!(!logs.is_empty());
    for line in logs.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "log_format = \"json\" should give JSON lines, got {line:?}"
        );
    }
}
