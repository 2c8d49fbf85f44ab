"""The embedded sandbox: the real workflow, deployed from what ``app.py`` synthesizes, running on 127.0.0.1.

One process holds everything: an embedded AWS (moto server, Step Functions executing the real ASL), the
deployed functions (their handlers run in process with their own environment), a fake Slack Web API, the
HTTP API routes (``POST /slack/interactions``) and an EventBridge-to-Step-Functions bridge. The process's own
clients are answered by moto's application in process; its server serves other processes (the CLI, a
browser). Nothing listens on anything but 127.0.0.1 and no call leaves the machine.

Quick start::

    from sandbox.core import Sandbox
    from tests.helpers import load_event

    with Sandbox() as sandbox:                               # synthesizes (cached) and deploys the stack
        event, mapping = sandbox.map_alert(load_event("guardduty_ec2_finding"))  # look-alike instance
        sandbox.put_event(event)                             # EventBridge rule -> bridge -> execution
        [delivered] = sandbox.bridge.wait_for(1)
        card = sandbox.wait_for_card(delivered.execution_arn)  # the Slack approval card
        status, body = sandbox.click(card, "approve")          # signed block_actions, as Slack sends it
        result = sandbox.wait_for_execution(delivered.execution_arn)

``sandbox.core.Sandbox`` (a context manager; one per process at a time)
    ``Sandbox(template=None, context_overrides=None, time_scale=1.0, retry_time_scale=0.001,
    region="eu-west-1", approvers=None, function_environment=None, stack_name="Tourniquet",
    organization=True, model=False)``. With ``model`` the Triage step asks the Converse stand-in
    (``sandbox.model``) to raise its verdicts, as a deployment with ``triage_model_id`` asks Bedrock.
    Without ``template`` it deploys ``stacks.synth.synthesize_template(context_overrides)`` (with
    ``hub_account_id`` set to the sandbox's account, so that the member template names the hub's roles in
    every account), cached under ``.cache/tourniquet/``. With ``organization`` the embedded AWS is an
    organization (``sandbox.organization``): the member stack is deployed into each of its accounts that has
    one, and every function gets ``SCOPE_ACCOUNTS``, ``SCOPE_OUS``, ``EXCLUDED_ACCOUNTS`` and
    ``SCOPE_REGIONS`` for it. ``time_scale`` multiplies ``waitForTaskToken`` timeouts (0.001 makes a 3600 s
    approval expire in 3.6 s); ``retry_time_scale`` multiplies retry intervals. Both can be changed while it
    runs. ``function_environment`` (and ``approvers``, as ``APPROVERS``, when given) is laid over every
    function's environment, as are ``AWS_ENDPOINT_URL`` (the moto server) and ``SLACK_API_URL`` (the fake
    Slack). The fake Slack knows every deployed approver (user ids as users named after ``alice``, group ids
    as user groups holding ``APPROVER``); ``sandbox.approver`` is the first approver user.

    * ``start()`` / ``stop()``; ``startup_seconds``, ``timings`` (moto, synth, organization, deploy, member
      stacks), ``synth_cache_hit``.
    * ``put_event(event)``: PutEvents to the default bus; matching rules start their state machine.
    * ``start_execution(event, name=None, state_machine_arn=None) -> execution_arn``.
    * ``wait_for_execution(arn, timeout=30) -> describe_execution dict`` (TimeoutError while still running).
    * ``execution_history(arn) -> list of history events``.
    * ``wait_for_card(incident_id | approval_id | execution_arn, timeout=15) -> SlackMessage``.
    * ``click(card, action_id, user_id=sandbox.approver.id, timestamp=, signature=, signing_secret=,
      payload=) -> (status, body)``.
    * ``map_alert(event) -> (event, {original: look-alike})``: look-alikes in the account and region the
      alert names (an account or region the sandbox does not have is mapped, and the mapping shows it);
      ``seed`` (the hub account's ``Seeder``), ``seeder(account=None, region=None)``; ``trail`` (the
      CloudTrail ``TrailStore``).
    * ``organization`` (an ``Organization``), ``hub_account``, ``regions``, ``member_deployments`` (account
      -> ``Deployment``), ``account_client(service, account, region=None)`` (a client acting in one of the
      organization's accounts), ``function_credentials(handler)`` (what a deployed function runs with),
      ``calls`` (a ``CallLog``: ``with sandbox.calls.recording() as calls: ...``).
    * ``securityhub`` (``SecurityHubStandIn``: ``calls(finding)``, ``status(finding)``), ``model``
      (``ConverseStandIn``: ``requests``, ``script(body, delay=, status=, error=)``), ``siem_messages()``.
    * ``channels`` (``ChannelStandIns``: what PagerDuty and Teams received); the sandbox deploys every
      channel (PagerDuty, Teams, e-mail through SNS) unless the context overrides ``channels``.
    * ``deployment`` (a ``Deployment``), ``slack`` (``FakeSlack``), ``api`` (``LocalHttpApi``),
      ``interactions_url``, ``bridge`` (``Bridge``), ``clicker`` (``Clicker``), ``client(service)``,
      ``table`` (the DynamoDB ``Table``), ``endpoint_url``, ``slack_credentials``, ``incident_id_for(arn)``.
    * ``approver`` (the first deployed approver, "alice"); ``sandbox.core.OUTSIDER`` (U0OUTSIDER, "mallory")
      is a known Slack user who approves nothing.

While it runs, ``os.environ`` points boto3 at the sandbox (``AWS_ENDPOINT_URL``, dummy credentials, no
profile or credentials file) and, when the template has one table, ``TABLE_NAME`` names it; ``stop()`` puts
the environment, moto's configuration and every patch back.

Modules:

``sandbox.deploy``
    ``synthesized_template(context_overrides=None, root=, cache_dir=, synthesize=) -> SynthesizedTemplate``
    (``template``, ``key``, ``cache_hit``; the key hashes app.py, cdk.json, stacks/**, statemachines/**, the
    CDK library version and the overrides). ``deploy(template, endpoint_url=, region=, ...) -> Deployment``:
    creates tables, secrets, topics, queues, roles, functions, state machines, event buses and rules in
    dependency order; everything else is listed in ``Deployment.skipped``. ``Deployment`` has
    ``resources`` (logical id -> ``DeployedResource``), ``physical_id(logical_id)``, ``table_name()``,
    ``state_machine_arn()``, ``topic_arn()``, ``queue_url()``, ``secret_arn()``, ``secret_value()``
    (each takes an optional logical id), ``function(handler)``, ``function_name(handler)``,
    ``function_names_by_handler``, ``bridges`` and ``routes``.
``sandbox.intrinsics``
    ``Resolver`` (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split, Fn::If and the condition
    functions, Fn::FindInMap, Fn::GetAZs, Fn::Base64, Fn::ToJsonString, pseudo parameters),
    ``deployment_order(resources)``, ``TemplateError``.
``sandbox.patches``
    The moto patches: ``LambdaRuntime`` and ``install_lambda_hook`` (handlers run in process, with a session
    of the function's own execution role; a failure answers ``{"errorType": <exception class>,
    "errorMessage": ...}`` with FunctionError), ``TimeScale`` and ``install_time_scaling``,
    ``install_eni_groups_fix``, ``Patcher``.
``sandbox.organization``
    ``ACCOUNTS`` (the hub's, member accounts, one outside the scope, one excluded, one without the member
    stack), ``REGIONS``, ``create_organization(organizations_client) -> Organization``, ``Placement``.
``sandbox.trust``
    ``install``: ``AssumeRole`` refused (AccessDenied) unless the role's trust policy allows the caller;
    ``caller(response)``, ``refusal(...)``.
``sandbox.calls``
    ``CallLog`` and ``install``: the calls served while a recording is open, as ``Call`` (service, action,
    account, region, principal, session, role_arn; ``writes``).
``sandbox.standins``
    ``install``: Security Hub's ``BatchUpdateFindings`` and ``BatchUpdateFindingsV2`` and Bedrock's
    ``Converse``, which moto lacks, answered by ``SecurityHubStandIn`` and ``ConverseStandIn``.
``sandbox.cloudtrail``
    ``TrailEvent``, ``TrailStore`` and ``install``: CloudTrail ``LookupEvents`` answered from seeded events,
    each account and region seeing its own.
``sandbox.seed``
    ``Seeder``: ``map_alert(event)``, ``instance(volumes=3, network_interfaces=1, tags=...)``,
    ``cloudtrail_events(instance)``; ``FIXED_AMI``.
``sandbox.slack``
    ``FakeSlack(bot_token)``: ``api_url``, ``calls(method=None)``, ``messages(channel=None)``,
    ``message(channel, ts)``, ``ephemeral()``, ``find_card(needle)``, ``find_message(needle)``,
    ``wait_for(predicate, timeout)``, ``fail_next(method, error="ratelimited", status=None, times=1)``,
    ``answer_slowly(method, seconds, times=1)``,
    ``add_user(SlackUser)``, ``add_usergroup(id, members)``; ``SlackMessage``, ``SlackCall``, ``SlackUser``.
``sandbox.channels``
    ``ChannelStandIns``: PagerDuty's Events API v2 and a Teams Workflows webhook on 127.0.0.1 (the sandbox's
    ``channels``): ``received(channel=None, incident=None)``, ``events(incident_id)`` (PagerDuty's actions in
    order), ``fail_next(channel, status=503, times=1, retry_after=None)``, ``outage(channel)``; ``Received``.
``sandbox.interactions``
    ``LocalHttpApi(deployment, lambda_client)``: serves the template's HTTP API routes as API Gateway
    payload 2.0 (or 1.0) events through ``lambda.invoke``; ``url(path)``, ``exchanges()``.
``sandbox.clicker``
    ``Clicker(url, signing_secret, slack)``: ``payload(card, action_id, user_id)``, ``click(...)``,
    ``send(body, timestamp=, signature=, signing_secret=)``; ``block_actions_payload``, ``form_body``,
    ``signed_headers``, ``find_button``, ``post``.
``sandbox.bridge``
    ``Bridge``: ``delivered()``, ``errors``, ``wait_for(count, timeout)``.
"""

import os
from pathlib import Path

# moto reads its image list once, when first imported; every new EC2 backend then registers each image (and
# a snapshot per image). The two images the sandbox and the tests launch are enough, and keep that cheap.
AMIS_PATH = Path(__file__).with_name("amis.json")
os.environ.setdefault("MOTO_AMIS_PATH", str(AMIS_PATH))
