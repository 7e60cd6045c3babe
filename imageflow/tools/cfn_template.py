"""A packaged CloudFormation template as AWS would evaluate it, for one set of parameter values.

Enough of CloudFormation's intrinsic functions (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split,
Fn::If with its conditions, Fn::FindInMap) to read the IAM policies a stack would get, so a policy linter
sees concrete ARNs. Resources whose ``Condition`` is false are left out, as CloudFormation leaves them out.
Values that exist only after deployment (a bucket's generated name, an account id) are stand-ins derived
from the logical id, in the ARN format of the resource type, so a linter can still check each ARN against
the actions it is granted for.

(cfn-policy-validator does this too, but it evaluates resources whose condition is false, and so fails on
this template's optional endpoint; it also needs AWS credentials.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"


class TemplateError(ValueError):
    """The template uses something this evaluator does not (it names what and where)."""


class _NoValue:
    """AWS::NoValue: the property or list item disappears."""


NO_VALUE = _NoValue()

# (what Ref returns, what Fn::GetAtt Arn returns), from the resource's name; p/r/a: partition, region, account.
_IDENTIFIERS: dict[str, tuple[str, str]] = {
    "AWS::S3::Bucket": ("{name}", "arn:{p}:s3:::{name}"),
    "AWS::Lambda::Function": ("{name}", "arn:{p}:lambda:{r}:{a}:function:{name}"),
    "AWS::Lambda::LayerVersion": ("arn:{p}:lambda:{r}:{a}:layer:{name}:1", "arn:{p}:lambda:{r}:{a}:layer:{name}:1"),
    "AWS::IAM::Role": ("{name}", "arn:{p}:iam::{a}:role/{name}"),
    "AWS::IAM::ManagedPolicy": ("arn:{p}:iam::{a}:policy/{name}", "arn:{p}:iam::{a}:policy/{name}"),
    "AWS::SNS::Topic": ("arn:{p}:sns:{r}:{a}:{name}", "arn:{p}:sns:{r}:{a}:{name}"),
    "AWS::SQS::Queue": ("https://sqs.{r}.amazonaws.com/{a}/{name}", "arn:{p}:sqs:{r}:{a}:{name}"),
    "AWS::StepFunctions::StateMachine": (
        "arn:{p}:states:{r}:{a}:stateMachine:{name}",
        "arn:{p}:states:{r}:{a}:stateMachine:{name}",
    ),
    "AWS::Logs::LogGroup": ("{name}", "arn:{p}:logs:{r}:{a}:log-group:{name}:*"),
    "AWS::KMS::Key": ("{name}", "arn:{p}:kms:{r}:{a}:key/{name}"),
    "AWS::Events::Rule": ("{name}", "arn:{p}:events:{r}:{a}:rule/{name}"),
    "AWS::SageMaker::Model": ("arn:{p}:sagemaker:{r}:{a}:model/{name}", "arn:{p}:sagemaker:{r}:{a}:model/{name}"),
    "AWS::SageMaker::EndpointConfig": (
        "arn:{p}:sagemaker:{r}:{a}:endpoint-config/{name}",
        "arn:{p}:sagemaker:{r}:{a}:endpoint-config/{name}",
    ),
    "AWS::SageMaker::Endpoint": (
        "arn:{p}:sagemaker:{r}:{a}:endpoint/{name}",
        "arn:{p}:sagemaker:{r}:{a}:endpoint/{name}",
    ),
}
# Properties that name a resource (else the stand-in name is "<stack>-<logical id>", lower case).
_NAME_PROPERTIES = (
    "BucketName", "FunctionName", "LayerName", "RoleName", "ManagedPolicyName", "TopicName", "QueueName",
    "StateMachineName", "LogGroupName", "Name", "ModelName", "EndpointConfigName", "EndpointName",
)  # fmt: skip
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@dataclass(frozen=True)
class IdentityPolicy:
    """One IAM policy document attached to an identity in the template, with its references evaluated."""

    resource: str  # logical id of the role or policy resource
    name: str  # the policy's name (PolicyName / ManagedPolicyName / logical id)
    document: dict[str, Any]


class EvaluatedTemplate:
    """The template for given parameter values (defaults otherwise), in a region and account."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str] | None = None,
        *,
        region: str = REGION,
        account: str = ACCOUNT,
        stack_name: str = "stack",
    ) -> None:
        self.template = template
        self.region, self.account, self.stack_name = region, account, stack_name
        declared = template.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        if unknown:
            raise TemplateError(f"no such template parameter(s): {', '.join(sorted(unknown))}")
        self.parameters = {name: (parameters or {}).get(name, spec.get("Default")) for name, spec in declared.items()}
        missing = [name for name, value in self.parameters.items() if value is None]
        if missing:
            raise TemplateError(f"parameter(s) without a value or default: {', '.join(missing)}")
        self._conditions: dict[str, bool] = {}

    # -- what the stack would contain -------------------------------------------------------------------
    def resources(self) -> dict[str, dict[str, Any]]:
        """Logical id -> resource (unevaluated), for the resources whose condition holds."""
        return {
            name: resource
            for name, resource in self.template.get("Resources", {}).items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def identity_policies(self) -> Iterator[IdentityPolicy]:
        """Every inline and managed policy of the roles, users, groups and policies the stack creates."""
        for logical_id, resource in self.resources().items():
            properties = resource.get("Properties", {})
            if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group"):
                for policy in self.evaluate(properties.get("Policies", [])):
                    yield IdentityPolicy(logical_id, policy["PolicyName"], policy["PolicyDocument"])
            elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                name = properties.get("PolicyName") or properties.get("ManagedPolicyName") or logical_id
                yield IdentityPolicy(logical_id, self.evaluate(name), self.evaluate(properties["PolicyDocument"]))

    # -- conditions -------------------------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            try:
                definition = self.template["Conditions"][name]
            except KeyError:
                raise TemplateError(f"no such condition: {name}") from None
            self._conditions[name] = self._truth(definition)
        return self._conditions[name]

    def _truth(self, value: Any) -> bool:
        (function, argument), *rest = value.items()
        if rest:
            raise TemplateError(f"a condition must be one function, got {sorted(value)}")
        if function == "Condition":
            return self.condition(argument)
        if function == "Fn::Equals":
            first, second = (self.evaluate(item) for item in argument)
            return str(first) == str(second)
        if function == "Fn::Not":
            return not self._truth(argument[0])
        if function == "Fn::And":
            return all(self._truth(item) for item in argument)
        if function == "Fn::Or":
            return any(self._truth(item) for item in argument)
        raise TemplateError(f"unsupported condition function {function}")

    # -- values -----------------------------------------------------------------------------------------
    def evaluate(self, value: Any) -> Any:
        """``value`` with every intrinsic function evaluated and AWS::NoValue removed."""
        if isinstance(value, list):
            items = [self.evaluate(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()  # fmt: skip
            if key == "Ref" or key.startswith("Fn::"):
                return self._function(key, argument)
        items = {key: self.evaluate(item) for key, item in value.items()}
        return {key: item for key, item in items.items() if item is not NO_VALUE}

    def _function(self, name: str, argument: Any) -> Any:
        if name == "Ref":
            return self._ref(argument)
        if name == "Fn::GetAtt":
            logical_id, attribute = argument.split(".", 1) if isinstance(argument, str) else argument
            return self._get_att(logical_id, self.evaluate(attribute))
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            delimiter, items = argument
            return delimiter.join(str(item) for item in self.evaluate(items))
        if name == "Fn::Select":
            index, items = self.evaluate(argument)
            if not 0 <= int(index) < len(items):
                raise TemplateError(f"Fn::Select index {index} is outside {items!r}")
            return items[int(index)]
        if name == "Fn::Split":
            delimiter, text = argument
            return str(self.evaluate(text)).split(delimiter)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self.evaluate(when_true if self.condition(condition) else when_false)
        if name == "Fn::FindInMap":
            mapping, first, second = (self.evaluate(item) for item in argument)
            return self.template["Mappings"][mapping][first][second]
        raise TemplateError(f"unsupported intrinsic function {name}")

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/id",
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            value = self.parameters[name]
            declared = self.template["Parameters"][name].get("Type", "String")
            return value.split(",") if declared == "CommaDelimitedList" else value
        return self._identifiers(name)[0]

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self._identifiers(logical_id)[1]
        if attribute.endswith("Name"):  # ModelName, TopicName, EndpointConfigName, QueueName...
            return self._name(logical_id)
        return f"{self._name(logical_id)}.{attribute}"

    def _identifiers(self, logical_id: str) -> tuple[str, str]:
        resource = self._resource(logical_id)
        ref, arn = _IDENTIFIERS.get(resource["Type"], ("{name}", "arn:{p}:{service}:{r}:{a}:{name}"))
        fields = {
            "p": "aws",
            "r": self.region,
            "a": self.account,
            "name": self._name(logical_id),
            "service": resource["Type"].split("::")[1].lower(),
        }
        return ref.format(**fields), arn.format(**fields)

    def _name(self, logical_id: str) -> str:
        properties = self._resource(logical_id).get("Properties", {})
        for key in _NAME_PROPERTIES:
            if key in properties:
                name = self.evaluate(properties[key])
                if name is not NO_VALUE:
                    return str(name)
        return f"{self.stack_name}-{logical_id}".lower()

    def _resource(self, logical_id: str) -> dict[str, Any]:
        try:
            return self.template["Resources"][logical_id]
        except KeyError:
            raise TemplateError(f"reference to {logical_id!r}, which is neither a parameter nor a resource") from None

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.evaluate(value) for name, value in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} stays as ${Literal}
                return "${" + name[1:] + "}"
            if name in values:
                return str(values[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return self._get_att(logical_id, attribute)
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(substitute, text)
