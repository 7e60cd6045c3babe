'use strict';

// Every checkov check this service skips, on which resources, and why: the single list a security
// reviewer reads. serverless.yml puts the result in each resource's Metadata, e.g.
//   Metadata: ${file(security/checkov.js):lambdaFunction}
// which checkov reads as inline suppressions (`checkov.skip`, an id and a comment each).
//
// Some skips apply only while a stage leaves a stricter option off (no customer KMS key, no log bucket).
// They are decided here, from the stage parameters, when the template is packaged: the properties those
// options set use CloudFormation conditions (Fn::If), which checkov cannot evaluate (it passes any Fn::If),
// so a stage without the option must say so explicitly rather than pass by accident.

const SKIPS = {
  dlqSynchronousTask: {
    id: 'CKV_AWS_116',
    comment:
      'Only Step Functions invokes this function, synchronously (lambda:invoke, RequestResponse). A Lambda ' +
      'DLQ receives failed asynchronous invocations only and would never fire: a failure returns to the ' +
      'state machine, whose Retry/Catch is the dead-letter path (the execution ends with the error name ' +
      'and cause, and the workflow-errors alarm reports it).',
  },
  vpcAwsApisOnly: {
    id: 'CKV_AWS_117',
    comment:
      'The function reaches only AWS APIs (S3, SageMaker Runtime, CloudWatch Logs) over TLS, scoped by ' +
      'its own least-privilege role, and no private network resource. A VPC would add NAT or interface ' +
      'endpoints, cost and cold-start time without narrowing what it can reach.',
  },
  environmentAwsManagedKey: {
    id: 'CKV_AWS_173',
    comment:
      'This stage names no customer-managed key (stage parameter kmsKeyArn is empty): Lambda encrypts the ' +
      'environment at rest with an AWS-managed key. It holds configuration only (endpoint name, labels, ' +
      'threshold, bucket name), no secrets. Set kmsKeyArn to encrypt it with your key.',
  },
  logsAwsManagedKey: {
    id: 'CKV_AWS_158',
    comment:
      'This stage names no customer-managed key (stage parameter kmsKeyArn is empty): CloudWatch Logs ' +
      'encrypts the log group at rest with its service-managed keys. Set kmsKeyArn to encrypt it with ' +
      'your key.',
  },
  alarmTopicWithoutCustomerKey: {
    id: 'CKV_AWS_26',
    comment:
      'Without a customer-managed key (stage parameter kmsKeyArn is empty) the alarm topic is left ' +
      'unencrypted on purpose: CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed ' +
      'SNS key (its key policy does not admit CloudWatch), so alarms would be lost. Messages carry alarm ' +
      'names and metric values only. Set kmsKeyArn (a key that allows cloudwatch.amazonaws.com) to encrypt it.',
  },
  noLogBucket: {
    id: 'CKV_AWS_18',
    comment:
      'This stage names no log bucket (stage parameter logBucket is empty); server access logs need a ' +
      'bucket of their own outside this stack. Set logBucket to deliver them there.',
  },
};

async function stageParam(resolveVariable, name) {
  const value = await resolveVariable(`param:${name}`);
  return value == null ? '' : String(value).trim();
}

// The Metadata for one kind of resource: the skips that always apply, plus those for options left off.
function metadata({ always = [], withoutKmsKey = [], withoutLogBucket = [] }) {
  return async ({ resolveVariable }) => {
    const names = [...always];
    if (!(await stageParam(resolveVariable, 'kmsKeyArn'))) names.push(...withoutKmsKey);
    if (!(await stageParam(resolveVariable, 'logBucket'))) names.push(...withoutLogBucket);
    return names.length ? { checkov: { skip: names.map((name) => SKIPS[name]) } } : {};
  };
}

module.exports = {
  lambdaFunction: metadata({
    always: ['dlqSynchronousTask', 'vpcAwsApisOnly'],
    withoutKmsKey: ['environmentAwsManagedKey'],
  }),
  logGroup: metadata({ withoutKmsKey: ['logsAwsManagedKey'] }),
  alarmTopic: metadata({ withoutKmsKey: ['alarmTopicWithoutCustomerKey'] }),
  bucket: metadata({ withoutLogBucket: ['noLogBucket'] }),
};
