// serverless-offline (13.x, and 14.x as of 14.8.5) matches a Lambda authorizer policy's
// Resource patterns by building a regular expression from them without escaping the
// characters a regular expression reads specially ("." "\" "+" "(" ...). A Deny of
// ".../*/./*" (a dot segment) then denies nearly every path, and "." in a literal
// segment matches any character. API Gateway's IAM evaluation reads only "*" and "?" as
// wildcards. This escapes the rest before "*" and "?" become wildcards, so the e2e tests
// see IAM's semantics. Usage: node patch-serverless-offline.cjs <serverless-offline dir>
"use strict";
const fs = require("fs");
const path = require("path");

const file = path.join(process.argv[2], "src", "events", "authMatchPolicyResource.js");
const buggy = 'parsedPolicyResource.path.replaceAll("*", ".*").replaceAll("?", ".")';
const fixed =
  'parsedPolicyResource.path.replace(/[.+^${}()|[\\]\\\\]/g, "\\\\$&")' +
  '.replaceAll("*", ".*").replaceAll("?", ".")';
const source = fs.readFileSync(file, "utf8");
if (source.includes(fixed)) {
  process.exit(0);
}
if (!source.includes(buggy)) {
  console.error(`patch-serverless-offline: ${file} changed upstream; review the patch`);
  process.exit(1);
}
fs.writeFileSync(file, source.replace(buggy, () => fixed));
