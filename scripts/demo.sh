#!/usr/bin/env bash
# The main job, end to end against a local AWS endpoint: validate, plan, apply, change
# something out of band, see it in the next plan, put it back, destroy.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/terrane/target}"
scripts/setup.sh
cargo build --locked --bin terrane
terrane="$CARGO_TARGET_DIR/debug/terrane"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
.venv/bin/moto_server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
work=$(mktemp -d)
trap 'kill "$moto_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null && break
  sleep 0.2
done

export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
cp -r stacks/examples/minimal "$work/minimal"
stack="$work/minimal"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "terrane validate"
"$terrane" validate "$stack" --env dev
step "terrane plan (exit code 2: changes pending)"
set +e; "$terrane" plan "$stack" --env dev --detailed-exitcode; code=$?; set -e
echo "exit code: $code"
step "terrane apply"
"$terrane" apply "$stack" --env dev --auto-approve
step "terrane state list"
"$terrane" state list "$stack" --env dev
step "terrane plan again (exit code 0: nothing to do)"
"$terrane" plan "$stack" --env dev --detailed-exitcode

step "someone opens SSH to the world and retags the VPC, outside terrane"
AWS_ENDPOINT_URL="http://127.0.0.1:$port" .venv/bin/python - <<'PY'
import boto3
ec2 = boto3.client("ec2", region_name="us-east-1")
owned = [{"Name": "tag:terrane:stack", "Values": ["minimal/dev"]}]
sg = ec2.describe_security_groups(Filters=owned)["SecurityGroups"][0]
ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[
    {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
vpc = ec2.describe_vpcs(Filters=owned)["Vpcs"][0]
ec2.create_tags(Resources=[vpc["VpcId"]], Tags=[{"Key": "Name", "Value": "hand-edited"}])
print(f"opened port 22 on {sg['GroupId']}, renamed {vpc['VpcId']}")
PY
step "terrane drift reports what changed, attribute by attribute (exit code 2), and records it"
set +e; "$terrane" drift "$stack" --env dev; code=$?; set -e
echo "exit code: $code"
[ "$code" = 2 ] || { echo "drift was not reported" >&2; exit 1; }
step "terrane plan shows what restores the stack (exit code 2)"
set +e; "$terrane" plan "$stack" --env dev --detailed-exitcode; code=$?; set -e
echo "exit code: $code"
[ "$code" = 2 ] || { echo "drift was not detected" >&2; exit 1; }
step "terrane apply puts it back"
"$terrane" apply "$stack" --env dev --auto-approve
"$terrane" plan "$stack" --env dev --detailed-exitcode
step "terrane drift again: in sync (exit code 0); the findings are resolved, by the apply"
"$terrane" drift "$stack" --env dev
step "terrane drift history"
"$terrane" drift history --stack "$stack" --env dev
step "terrane output"
"$terrane" output "$stack" --env dev
step "terrane destroy"
"$terrane" destroy "$stack" --env dev --auto-approve
echo
echo "Demo finished: planned, applied, drifted, detected, restored and destroyed."
