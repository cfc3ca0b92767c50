"""The Helm chart (deploy/k8s/switchboard): lint, render, Kubernetes schemas, and its behaviour.

Every ci/*-values.yaml passes ``helm lint --strict`` and renders manifests that validate against the
Kubernetes JSON schemas in strict mode (kubernetes-validate, offline) for the oldest and newest
Kubernetes versions the chart supports. The behaviour tests read the rendered manifests.
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from switchboard_common.topics import TopicPlan, load_topic_plan

CHART_DIR = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "switchboard"
CI_FILES = sorted(p.name for p in (CHART_DIR / "ci").glob("*-values.yaml"))
KUBE_VERSIONS = ("1.29.0", "1.37.0")

MINIMAL = "ci/minimal-values.yaml"
PRODUCTION = "ci/production-values.yaml"
EVERYTHING = "ci/everything-values.yaml"
CHAT_ONLY = "ci/chat-only-values.yaml"

SERVICES = ("intake-chat", "intake-email", "intake-phone", "classifier", "dispatcher", "notifier")
PUBLIC = {"intake-chat", "intake-email", "intake-phone"}
# Kinds from CRDs that kubernetes-validate has no schema for: checked by the behaviour tests below.
CUSTOM_RESOURCES = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("gateway.networking.k8s.io/v1", "HTTPRoute")}
# The agreed secret variables (BRIEF: environment variable names); IMAP_PASSWORD_<NAME> besides.
SECRET_VARIABLES = {
    "KAFKA_SASL_PASSWORD", "WEBCHAT_SESSION_SECRET", "SLACK_SIGNING_SECRET", "META_APP_SECRET", "META_VERIFY_TOKEN",
    "TELEGRAM_SECRET_TOKEN", "WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY",
    "LINE_CHANNEL_SECRET", "EMAIL_INBOUND_TOKEN", "TWILIO_AUTH_TOKEN", "PBX_WEBHOOK_SECRET", "SMTP_PASSWORD",
    "SLACK_BOT_TOKEN", "WHATSAPP_ACCESS_TOKEN", "MESSENGER_PAGE_ACCESS_TOKEN", "TELEGRAM_BOT_TOKEN",
    "WECHAT_APP_SECRET", "WECOM_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "SATISFACTION_LINK_SECRET",
}  # fmt: skip


def ci_values(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART_DIR / name).read_text("utf-8"))
    return loaded


def pod_annotations(manifests: Any, service: str) -> dict[str, str]:
    annotations: dict[str, str] = manifests.deployment(service)["spec"]["template"]["metadata"].get("annotations", {})
    return annotations


def secret_ref(entry: dict[str, Any]) -> dict[str, Any]:
    ref: dict[str, Any] = entry["valueFrom"]["secretKeyRef"]
    return ref


# -- lint, render, validate --------------------------------------------------------------------------


@pytest.mark.parametrize("values_file", CI_FILES)
def test_lint_strict_passes(chart, values_file):
    result = chart.lint(f"ci/{values_file}")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("values_file", CI_FILES)
def test_every_rendered_manifest_validates_strictly(chart, values_file, kube_version):
    manifests = chart.template(f"ci/{values_file}", kube_version=kube_version)
    assert manifests.documents
    problems = []
    for document in manifests.documents:
        where = f"{document['kind']}/{document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, kube_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            if (document["apiVersion"], document["kind"]) not in CUSTOM_RESOURCES:
                problems.append(f"{where}: no schema for {document['apiVersion']}")
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{where}: {path}: {error.message}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("values_file", CI_FILES)
def test_no_name_is_rendered_twice(chart, values_file):
    manifests = chart.template(f"ci/{values_file}")
    resources = [(d["kind"], d["metadata"]["name"]) for d in manifests.documents]
    assert len(resources) == len(set(resources))
    for name, pod in manifests.pod_specs():
        for container in pod["containers"]:
            variables = [entry["name"] for entry in container.get("env", [])]
            assert len(variables) == len(set(variables)), f"{name}: a variable set twice"
            mounts = [mount["mountPath"] for mount in container.get("volumeMounts", [])]
            assert len(mounts) == len(set(mounts)), name


def test_strict_validation_rejects_a_field_kubernetes_does_not_know(chart):
    deployment = copy.deepcopy(chart.template(MINIMAL).deployment("classifier"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


@pytest.mark.parametrize("values_file", CI_FILES)
def test_every_ci_values_file_is_a_complete_install(chart, values_file):
    manifests = chart.template(f"ci/{values_file}")
    for deployment in manifests.of_kind("Deployment"):
        service = manifests.get("Service", deployment["metadata"]["name"])
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert manifests.of_kind("Job"), "the topics Job is part of every install"


# -- workloads ---------------------------------------------------------------------------------------


def test_every_service_gets_a_deployment_and_a_service_by_default(chart):
    manifests = chart.template(MINIMAL)
    assert manifests.names("Deployment") == {f"{chart.fullname}-{s}" for s in SERVICES}
    assert manifests.names("Service") == {f"{chart.fullname}-{s}" for s in SERVICES}


def test_each_container_runs_its_services_entry_point(chart):
    manifests = chart.template(MINIMAL)
    for service in SERVICES:
        container = manifests.container(service)
        assert container["command"] == [f"switchboard-{service}"]
        assert container["image"] == f"switchboard/{service}:0.1.0"


def test_a_disabled_service_renders_nothing(chart):
    manifests = chart.template(
        EVERYTHING, values={"services": {"intakeEmail": {"enabled": False}, "notifier": {"enabled": False}}}
    )
    rendered = yaml.safe_dump_all(manifests.documents)
    for service in ("intake-email", "notifier"):
        assert service not in manifests.components()
        assert f"{chart.fullname}-{service}" not in rendered
    assert "sb-mailboxes" not in manifests.names("ConfigMap"), "only intake-email reads the mailboxes"
    assert "sb-ack-templates" not in manifests.names("ConfigMap"), "only the notifier reads the templates"
    ingress_backends = {
        path["backend"]["service"]["name"]
        for rule in manifests.of_kind("Ingress")[0]["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert ingress_backends == {"sb-intake-chat", "sb-intake-phone"}


def test_chat_only_install_has_no_email_or_phone_resources(chart):
    manifests = chart.template(CHAT_ONLY)
    assert manifests.components() >= {"intake-chat", "classifier", "dispatcher", "notifier"}
    assert not manifests.components() & {"intake-email", "intake-phone"}


def test_probes_use_the_health_endpoints(chart):
    manifests = chart.template(EVERYTHING)
    for service in SERVICES:
        container = manifests.container(service)
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
        assert port == 8081
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        env = manifests.env(service)
        assert env["HTTP_PORT"]["value"] == "8081"
        assert env["HTTP_HOST"]["value"] == "0.0.0.0"


def test_a_service_can_switch_its_startup_probe_off(chart):
    manifests = chart.template(EVERYTHING)
    assert "startupProbe" not in manifests.container("intake-phone")
    assert manifests.container("intake-chat")["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_consumer_instance_id_is_the_pod_name(chart):
    manifests = chart.template(MINIMAL)
    for service in SERVICES:
        entry = manifests.env(service)["CONSUMER_INSTANCE_ID"]
        assert entry["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_autoscaling_leaves_the_replica_count_to_the_autoscaler(chart):
    manifests = chart.template(PRODUCTION)
    autoscaled = {h["spec"]["scaleTargetRef"]["name"] for h in manifests.of_kind("HorizontalPodAutoscaler")}
    assert autoscaled == {"sb-switchboard-intake-chat", "sb-switchboard-classifier"}
    assert "replicas" not in manifests.deployment("classifier")["spec"]
    assert manifests.deployment("dispatcher")["spec"]["replicas"] == 3
    classifier = manifests.get("HorizontalPodAutoscaler", "sb-switchboard-classifier")["spec"]
    assert (classifier["minReplicas"], classifier["maxReplicas"]) == (3, 12)


def test_a_consumer_may_not_autoscale_beyond_the_pipeline_partitions(chart):
    error = chart.template_error(
        MINIMAL, values={"services": {"notifier": {"autoscaling": {"enabled": True, "maxReplicas": 7}}}}
    )
    assert "services.notifier.autoscaling.maxReplicas (7) exceeds topics.pipelinePartitions (6)" in error


def test_an_intake_may_autoscale_beyond_the_pipeline_partitions(chart):
    manifests = chart.template(
        MINIMAL, values={"services": {"intakeChat": {"autoscaling": {"enabled": True, "maxReplicas": 40}}}}
    )
    assert manifests.get("HorizontalPodAutoscaler", "sb-switchboard-intake-chat")["spec"]["maxReplicas"] == 40


def test_disruption_budgets_follow_the_values(chart):
    manifests = chart.template(EVERYTHING)
    assert manifests.get("PodDisruptionBudget", "sb-intake-chat")["spec"]["maxUnavailable"] == "25%"
    assert manifests.get("PodDisruptionBudget", "sb-intake-email")["spec"]["minAvailable"] == 1
    assert "sb-dispatcher" not in manifests.names("PodDisruptionBudget")


def test_workload_defaults_apply_unless_a_service_sets_its_own(chart):
    manifests = chart.template(EVERYTHING)
    chat = manifests.deployment("intake-chat")["spec"]["template"]
    classifier = manifests.deployment("classifier")["spec"]["template"]
    assert chat["spec"]["tolerations"] == classifier["spec"]["tolerations"]
    assert chat["metadata"]["annotations"]["example.com/team"] == "customer-service"
    assert chat["metadata"]["annotations"]["example.com/websocket"] == "true"
    assert "example.com/websocket" not in classifier["metadata"]["annotations"]
    mounts = {m["name"] for m in manifests.container("classifier")["volumeMounts"]}
    assert "model" in mounts and "extra-ca" not in mounts, "a service's own list replaces the default list"
    assert "lifecycle" not in manifests.container("notifier"), "preStopSleepSeconds: 0 turns the sleep off"
    assert manifests.container("intake-chat")["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]


def test_topology_spread_constraints_select_the_services_own_pods(chart):
    manifests = chart.template(PRODUCTION)
    for service in SERVICES:
        for constraint in manifests.deployment(service)["spec"]["template"]["spec"]["topologySpreadConstraints"]:
            assert constraint["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == service


# -- security ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values_file", CI_FILES)
def test_no_container_runs_as_root_or_can_escalate(chart, values_file):
    manifests = chart.template(f"ci/{values_file}")
    for name, pod in manifests.pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context.get("runAsUser", 1) != 0, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, f"{name}: a writable /tmp"


# -- credentials -------------------------------------------------------------------------------------


def test_chart_created_credentials_land_in_one_secret_under_the_agreed_names(chart):
    values = ci_values(EVERYTHING)["credentials"]["values"]
    manifests = chart.template(EVERYTHING)
    secret = manifests.get("Secret", "sb-credentials")
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == values


def test_every_secret_variable_comes_from_a_secret_key(chart):
    manifests = chart.template(EVERYTHING)
    for service in SERVICES:
        for name, entry in manifests.env(service).items():
            if name in SECRET_VARIABLES or name.startswith("IMAP_PASSWORD_"):
                assert "value" not in entry, f"{service}: {name} in plain text"
                assert secret_ref(entry)["name"]


def test_no_credential_value_appears_in_plain_text(chart):
    values = ci_values(EVERYTHING)["credentials"]["values"]
    text = chart.template_text(EVERYTHING)
    for name, value in values.items():
        assert value not in text, f"{name}'s value appears unencoded in the manifests"


def test_each_service_reads_only_its_own_credentials(chart):
    manifests = chart.template(EVERYTHING)
    secrets = {s: {n for n in manifests.env(s) if n in SECRET_VARIABLES or n.startswith("IMAP_")} for s in SERVICES}
    assert secrets["classifier"] == {"KAFKA_SASL_PASSWORD"}
    assert secrets["dispatcher"] == {"KAFKA_SASL_PASSWORD"}
    assert "SLACK_BOT_TOKEN" in secrets["notifier"] and "SLACK_SIGNING_SECRET" not in secrets["notifier"]
    assert "SLACK_SIGNING_SECRET" in secrets["intake-chat"] and "SLACK_BOT_TOKEN" not in secrets["intake-chat"]
    assert secrets["intake-email"] == {
        "KAFKA_SASL_PASSWORD",
        "EMAIL_INBOUND_TOKEN",
        "SATISFACTION_LINK_SECRET",
        "IMAP_PASSWORD_SUPPORT",
        "IMAP_PASSWORD_SALES",
    }
    assert "TWILIO_AUTH_TOKEN" in secrets["intake-phone"] and "TWILIO_AUTH_TOKEN" in secrets["notifier"]
    assert "SATISFACTION_LINK_SECRET" in secrets["notifier"]


def test_an_existing_secret_is_referenced_instead_of_a_created_one(chart):
    manifests = chart.template(
        values={"kafka": {"bootstrapServers": "kafka:9092"}, "credentials": {"existingSecret": "switchboard-channels"}}
    )
    assert not manifests.of_kind("Secret"), "nothing to create"
    env = manifests.env("intake-chat")
    assert secret_ref(env["WEBCHAT_SESSION_SECRET"]) == {
        "name": "switchboard-channels",
        "key": "WEBCHAT_SESSION_SECRET",
    }, "a required credential is not optional: a missing key stops the pod with a clear event"
    assert secret_ref(env["SLACK_SIGNING_SECRET"]) == {
        "name": "switchboard-channels",
        "key": "SLACK_SIGNING_SECRET",
        "optional": True,
    }, "an optional channel whose key is absent stays off"


def test_a_secret_reference_names_any_secret_and_key(chart):
    manifests = chart.template(PRODUCTION)
    for service in SERVICES:
        assert secret_ref(manifests.env(service)["KAFKA_SASL_PASSWORD"]) == {
            "name": "kafka-user-switchboard",
            "key": "password",
        }
    assert secret_ref(manifests.env("intake-email")["IMAP_PASSWORD_SUPPORT"]) == {
        "name": "switchboard-channels",
        "key": "IMAP_PASSWORD_SUPPORT",
    }


def test_changing_a_created_credential_rolls_only_the_services_that_read_it(chart):
    before = chart.template(EVERYTHING)
    after = chart.template(EVERYTHING, values={"credentials": {"values": {"SLACK_BOT_TOKEN": "xoxb-rotated"}}})
    changed = {s for s in SERVICES if pod_annotations(before, s) != pod_annotations(after, s)}
    assert changed == {"notifier"}


def test_the_web_chat_session_secret_is_required(chart):
    error = chart.template_error(values={"kafka": {"bootstrapServers": "kafka:9092"}})
    assert "intake-chat needs the credential WEBCHAT_SESSION_SECRET" in error
    assert "credentials.existingSecret" in error


def test_every_mailbox_needs_its_password(chart):
    error = chart.template_error(
        MINIMAL,
        values={
            "config": {
                "mailboxes": [{"name": "sales", "host": "imap.example.com", "password_env": "IMAP_PASSWORD_SALES"}]
            }
        },
    )
    assert "intake-email needs the credential IMAP_PASSWORD_SALES" in error


def test_sasl_needs_a_kafka_password(chart):
    error = chart.template_error(
        MINIMAL,
        values={"kafka": {"securityProtocol": "SASL_SSL", "sasl": {"mechanism": "PLAIN", "username": "switchboard"}}},
    )
    assert "needs the credential KAFKA_SASL_PASSWORD" in error


# -- Kafka -------------------------------------------------------------------------------------------


def test_kafka_connection_settings_reach_every_service(chart):
    manifests = chart.template(EVERYTHING)
    for service in SERVICES:
        env = manifests.env(service)
        assert env["KAFKA_BOOTSTRAP_SERVERS"]["value"] == "kafka-0.kafka:9093,kafka-1.kafka:9093,kafka-2.kafka:9093"
        assert env["KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert env["KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-256"
        assert env["KAFKA_TOPIC_PREFIX"]["value"] == "staging."
        assert env["KAFKA_SSL_CAFILE"]["value"] == "/etc/switchboard/kafka-tls/ca.crt"
        assert env["KAFKA_SSL_KEYFILE"]["value"] == "/etc/switchboard/kafka-tls/tls.key"
        assert env["KAFKA_TRANSACTION_TIMEOUT_MS"]["value"] == "45000"
        volumes = {v["name"]: v for v in manifests.deployment(service)["spec"]["template"]["spec"]["volumes"]}
        assert volumes["kafka-tls"]["secret"]["secretName"] == "kafka-client-tls"


def test_plaintext_kafka_sets_no_tls_or_sasl_variables(chart):
    env = chart.template(MINIMAL).env("dispatcher")
    assert not {name for name in env if name.startswith(("KAFKA_SASL", "KAFKA_SSL"))}


# -- configuration documents -------------------------------------------------------------------------


def test_packaged_documents_are_used_while_values_leave_them_unset(chart):
    manifests = chart.template(MINIMAL)
    assert manifests.names("ConfigMap") == {"sb-switchboard-topic-plan", "sb-switchboard-topics"}
    assert "DISPATCHER_ROUTING_PATH" not in manifests.env("dispatcher")
    assert "CLASSIFIER_TAXONOMY_PATH" not in manifests.env("classifier")


def test_documents_given_as_text_or_mapping_are_mounted_where_their_variables_point(chart):
    values = ci_values(EVERYTHING)["config"]
    manifests = chart.template(EVERYTHING)
    routing = manifests.get("ConfigMap", "sb-routing")["data"]["routing.yaml"]
    assert routing == values["routing"].rstrip("\n")
    taxonomy = manifests.get("ConfigMap", "sb-taxonomy")["data"]["taxonomy.yaml"]
    assert yaml.safe_load(taxonomy) == values["taxonomy"]
    mailboxes = manifests.get("ConfigMap", "sb-mailboxes")["data"]["mailboxes.yaml"]
    assert yaml.safe_load(mailboxes) == {"mailboxes": values["mailboxes"]}
    for service, variable, mount in (
        ("dispatcher", "DISPATCHER_ROUTING_PATH", "/etc/switchboard/routing"),
        ("classifier", "CLASSIFIER_ROUTING_PATH", "/etc/switchboard/routing"),
        ("classifier", "CLASSIFIER_TAXONOMY_PATH", "/etc/switchboard/taxonomy"),
        ("notifier", "NOTIFIER_TEMPLATES_PATH", "/etc/switchboard/ack-templates"),
        ("intake-email", "EMAIL_MAILBOXES_FILE", "/etc/switchboard/mailboxes"),
        ("intake-phone", "PHONE_IVR_FILE", "/etc/switchboard/ivr"),
        ("dispatcher", "DISPATCHER_TOPIC_PLAN_PATH", "/etc/switchboard/topic-plan"),
    ):
        path = manifests.env(service)[variable]["value"]
        assert str(Path(path).parent) == mount
        assert mount in {m["mountPath"] for m in manifests.container(service)["volumeMounts"]}


def test_changing_a_configmap_rolls_exactly_the_services_that_read_it(chart):
    before = chart.template(EVERYTHING)
    routing = ci_values(EVERYTHING)["config"]["routing"].replace("min_confidence: 0.5", "min_confidence: 0.6")
    after = chart.template(EVERYTHING, values={"config": {"routing": routing}})
    assert (
        pod_annotations(before, "dispatcher")["checksum/routing"]
        != pod_annotations(after, "dispatcher")["checksum/routing"]
    )
    changed = {s for s in SERVICES if pod_annotations(before, s) != pod_annotations(after, s)}
    assert changed == {"classifier", "dispatcher"}


def test_a_topic_plan_change_rolls_the_dispatcher(chart):
    before = chart.template(MINIMAL)
    after = chart.template(MINIMAL, values={"topics": {"departments": ["orders", "triage", "supervisors"]}})
    changed = {s for s in SERVICES if pod_annotations(before, s) != pod_annotations(after, s)}
    assert changed == {"dispatcher"}


# -- topics ------------------------------------------------------------------------------------------


def rendered_plan(manifests: Any, config_map: str) -> TopicPlan:
    return TopicPlan.model_validate(yaml.safe_load(manifests.get("ConfigMap", config_map)["data"]["topics.yaml"]))


def test_the_default_topic_plan_is_the_packaged_one_with_production_replication(chart):
    plan = rendered_plan(chart.template(MINIMAL), "sb-switchboard-topic-plan")
    packaged = load_topic_plan()
    assert (plan.replication_factor, plan.min_insync_replicas) == (3, 2)
    ignore = {"replication_factor", "min_insync_replicas"}
    assert plan.model_dump(exclude=ignore) == packaged.model_dump(exclude=ignore), (
        "values.yaml's topics drifted from libs/common/.../config/topics.yaml: update the chart's defaults"
    )


def test_the_topics_job_runs_switchboard_topics_ensure_with_the_plan_from_values(chart):
    manifests = chart.template(
        MINIMAL, values={"topics": {"pipelinePartitions": 12, "departments": ["orders", "triage", "supervisors"]}}
    )
    job = manifests.get("Job", "sb-switchboard-topics")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["switchboard-topics", "ensure", "--plan", "/etc/switchboard/topic-plan/topics.yaml"]
    assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/etc/switchboard/topic-plan"}
    volume = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}["topic-plan"]
    plan_map = manifests.get("ConfigMap", volume["configMap"]["name"])
    assert plan_map["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(plan_map["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    ), "the plan exists before the Job starts"
    plan = rendered_plan(manifests, volume["configMap"]["name"])
    assert plan.pipeline_partitions == 12
    assert plan.departments == ["orders", "triage", "supervisors"]
    assert {e["name"] for e in container["env"]} >= {"KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PREFIX"}


def test_the_topics_job_reads_a_chart_created_kafka_password_from_its_own_hook_secret(chart):
    manifests = chart.template(EVERYTHING)
    job = manifests.get("Job", "sb-topics")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    hook_secret = manifests.get("Secret", secret_ref(env["KAFKA_SASL_PASSWORD"])["name"])
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert base64.b64decode(hook_secret["data"]["KAFKA_SASL_PASSWORD"]).decode() == "ci-kafka-password"


def test_the_topics_job_uses_the_referenced_kafka_password_secret(chart):
    manifests = chart.template(PRODUCTION)
    job = manifests.get("Job", "sb-switchboard-topics")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert secret_ref(env["KAFKA_SASL_PASSWORD"]) == {"name": "kafka-user-switchboard", "key": "password"}
    assert not [s for s in manifests.of_kind("Secret")], "nothing to create: every credential is referenced"


def test_the_topics_job_can_be_turned_off(chart):
    manifests = chart.template(MINIMAL, values={"topicsJob": {"enabled": False}})
    assert not manifests.of_kind("Job")
    assert "sb-switchboard-topics" not in manifests.names("ConfigMap")


def test_large_retentions_render_as_plain_integers(chart):
    text = chart.template_text(EVERYTHING)
    assert "retention_ms: 5184000000" in text
    assert not re.search(r"retention_ms: [0-9.]+e\+", text)


# -- public entry ------------------------------------------------------------------------------------


def test_the_ingress_routes_each_public_path_to_its_service_with_tls(chart):
    manifests = chart.template(PRODUCTION)
    ingress = manifests.get("Ingress", "sb-switchboard")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "contact-example-com-tls", "hosts": ["contact.example.com"]}]
    (rule,) = ingress["spec"]["rules"]
    routes = [(p["path"], p["backend"]["service"]["name"], p["pathType"]) for p in rule["http"]["paths"]]
    assert routes == [
        ("/v1/email", "sb-switchboard-intake-email", "Prefix"),
        ("/v1/phone", "sb-switchboard-intake-phone", "Prefix"),
        ("/", "sb-switchboard-intake-chat", "Prefix"),
    ]


def test_the_http_route_attaches_the_public_paths_to_the_gateway(chart):
    route = chart.template(EVERYTHING).get("HTTPRoute", "sb")
    assert route["spec"]["parentRefs"] == [{"name": "public", "namespace": "gateway-system", "sectionName": "https"}]
    backends = {
        rule["matches"][0]["path"]["value"]: (rule["backendRefs"][0]["name"], rule["backendRefs"][0]["port"])
        for rule in route["spec"]["rules"]
    }
    assert backends["/v1/webchat"] == ("sb-intake-chat", 80)
    assert backends["/v1/email"] == ("sb-intake-email", 8080)
    assert all(rule["matches"][0]["path"]["type"] == "PathPrefix" for rule in route["spec"]["rules"])


def test_an_ingress_needs_a_public_service(chart):
    disabled = {name: {"enabled": False} for name in ("intakeChat", "intakeEmail", "intakePhone")}
    error = chart.template_error(
        MINIMAL, values={"services": disabled, "ingress": {"enabled": True, "hosts": ["x.example.com"]}}
    )
    assert "ingress.enabled needs at least one enabled public service" in error


# -- network policy and metrics ----------------------------------------------------------------------


def test_network_policies_let_only_the_ingress_controller_reach_public_services(chart):
    manifests = chart.template(PRODUCTION)
    ingress_nginx = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    for service in SERVICES:
        policy = manifests.get("NetworkPolicy", f"sb-switchboard-{service}")
        assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == service
        sources = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        assert (ingress_nginx in sources) == (service in PUBLIC), service
        assert all(port["port"] == "http" for rule in policy["spec"]["ingress"] for port in rule["ports"])


def test_network_policies_allow_egress_to_dns_kafka_and_only_the_needed_providers(chart):
    manifests = chart.template(PRODUCTION)
    for service in SERVICES:
        egress = manifests.get("NetworkPolicy", f"sb-switchboard-{service}")["spec"]["egress"]
        ports = [sorted(p["port"] for p in rule["ports"]) for rule in egress]
        assert [53, 53] in ports
        assert [9096] in ports
        providers = [
            rule
            for rule in egress
            if rule.get("to") == [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
        ]
        if service in ("classifier", "dispatcher"):
            assert not providers, f"{service} talks to Kafka only"
        else:
            assert providers, service
    notifier = manifests.get("NetworkPolicy", "sb-switchboard-notifier")["spec"]["egress"]
    assert [443, 465, 587] in [sorted(p["port"] for p in rule["ports"]) for rule in notifier]


def test_the_service_monitor_scrapes_every_service(chart):
    manifests = chart.template(PRODUCTION)
    (monitor,) = manifests.of_kind("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    for service in manifests.of_kind("Service"):
        assert selector.items() <= service["metadata"]["labels"].items(), service["metadata"]["name"]
        assert {p["name"] for p in service["spec"]["ports"]} == {"http"}
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [chart.namespace]}


def test_the_helm_test_pod_asks_every_enabled_service_for_readiness(chart):
    manifests = chart.template(CHAT_ONLY)
    (pod,) = manifests.of_kind("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    urls = [arg for arg in pod["spec"]["containers"][0]["command"] if arg.startswith("http://")]
    assert urls == [
        f"http://sb-switchboard-{s}:8080/readyz" for s in ("classifier", "dispatcher", "intake-chat", "notifier")
    ]


# -- values schema -----------------------------------------------------------------------------------


SCHEMA_VIOLATIONS = {
    "replicas-as-string": (
        {"services": {"classifier": {"replicaCount": "2"}}},
        "/services/classifier/replicaCount",
    ),
    "unknown-service": (
        {"services": {"intakeFax": {"enabled": True}}},
        "intakeFax",
    ),
    "missing-kafka-bootstrap": (
        {"kafka": {"bootstrapServers": ""}},
        "/kafka/bootstrapServers",
    ),
    "bootstrap-without-port": (
        {"kafka": {"bootstrapServers": "kafka"}},
        "/kafka/bootstrapServers",
    ),
    "sasl-without-mechanism": (
        {"kafka": {"securityProtocol": "SASL_SSL"}},
        "/kafka/sasl",
    ),
    "tls-secret-with-plaintext": (
        {"kafka": {"tls": {"existingSecret": "ca"}}},
        "/kafka/securityProtocol",
    ),
    "credential-as-plain-env": (
        {"env": {"SLACK_BOT_TOKEN": "xoxb-1"}},
        "/env/SLACK_BOT_TOKEN",
    ),
    "chart-managed-env": (
        {"services": {"notifier": {"env": {"KAFKA_BOOTSTRAP_SERVERS": "x:1"}}}},
        "/services/notifier/env/KAFKA_BOOTSTRAP_SERVERS",
    ),
    "unknown-credential": (
        {"credentials": {"values": {"SLACK_TOKEN": "x"}}},
        "additional properties 'SLACK_TOKEN'",
    ),
    "privileged-port": (
        {"workloadDefaults": {"httpPort": 80}},
        "/workloadDefaults/httpPort",
    ),
    "root-user": (
        {"workloadDefaults": {"podSecurityContext": {"runAsUser": 0}}},
        "runAsUser",
    ),
    "bad-digest": (
        {"services": {"intakeChat": {"image": {"digest": "latest"}}}},
        "/services/intakeChat/image/digest",
    ),
    "bad-quantity": (
        {"services": {"classifier": {"resources": {"limits": {"memory": "512MB"}}}}},
        "memory",
    ),
    "bad-department-name": (
        {"topics": {"departments": ["Orders"]}},
        "/topics/departments",
    ),
    "pipeline-topic-with-partitions": (
        {"topics": {"topics": {"x.v1": {"pipeline": True, "partitions": 3, "retentionMs": 1}}}},
        "/topics/topics/x.v1",
    ),
    "ingress-without-hosts": (
        {"ingress": {"enabled": True}},
        "/ingress",
    ),
    "route-without-gateway": (
        {"httpRoute": {"enabled": True}},
        "/httpRoute",
    ),
    "mailbox-password-name": (
        {"config": {"mailboxes": [{"name": "a", "host": "h", "password_env": "PASSWORD"}]}},
        "password_env",
    ),
    "unknown-top-level-key": (
        {"replicas": 3},
        "replicas",
    ),
}


@pytest.mark.parametrize(("values", "complaint"), SCHEMA_VIOLATIONS.values(), ids=SCHEMA_VIOLATIONS.keys())
def test_the_schema_rejects_misconfiguration(chart, values, complaint):
    error = chart.template_error(MINIMAL, values=values)
    assert "values don't meet the specifications of the schema" in error
    assert complaint in error, error


def test_the_schema_accepts_a_mapping_or_text_for_documents(chart):
    chart.template(MINIMAL, values={"config": {"ivr": {"version": 1}, "taxonomy": "version: 1\n"}})


# -- install notes -----------------------------------------------------------------------------------


def render_notes(chart, tmp_path, values_file: str, values: dict[str, Any] | None = None) -> str:
    """NOTES.txt as helm install prints it (helm template skips it): rendered through a copy of the chart."""
    copy_dir = tmp_path / "switchboard"
    shutil.copytree(CHART_DIR, copy_dir)
    (copy_dir / "notes.tpl").write_text((CHART_DIR / "templates" / "NOTES.txt").read_text("utf-8"), "utf-8")
    (copy_dir / "templates" / "NOTES.txt").unlink()
    (copy_dir / "templates" / "notes-probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data:\n  notes: {{ tpl (.Files.Get "notes.tpl") . | quote }}\n',
        "utf-8",
    )
    args = [
        "template",
        "sb",
        str(copy_dir),
        "-f",
        str(CHART_DIR / values_file),
        "--show-only",
        "templates/notes-probe.yaml",
    ]
    if values is not None:
        extra = tmp_path / "extra-values.yaml"
        extra.write_text(yaml.safe_dump(values), "utf-8")
        args += ["-f", str(extra)]
    result = chart.run(*args)
    assert result.returncode == 0, result.stderr
    notes: str = yaml.safe_load(result.stdout)["data"]["notes"]
    return notes


@pytest.mark.parametrize("values_file", CI_FILES)
def test_the_install_notes_render(chart, tmp_path, values_file):
    notes = render_notes(chart, tmp_path, f"ci/{values_file}")
    assert "helm test sb" in notes
    assert "classifier" in notes


def test_the_install_notes_warn_when_consumers_outnumber_partitions(chart, tmp_path):
    notes = render_notes(chart, tmp_path, MINIMAL, values={"services": {"notifier": {"replicaCount": 8}}})
    assert "WARNING: 8 replicas but 6 pipeline partitions: 2 replica(s) will idle" in notes
    assert notes.count("WARNING") == 1
