"""Real Cognito tokens from the emulator (moto's cognito-idp): a pool, a public app client, a
user in a group, then InitiateAuth. Prints JSON for tests/it/endpoint.rs.

    python3 tests/reference/cognito_tokens.py http://127.0.0.1:PORT
"""
import json
import sys

import boto3

endpoint = sys.argv[1]
idp = boto3.client("cognito-idp", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
pool = idp.create_user_pool(PoolName="media-users")["UserPool"]["Id"]
client = idp.create_user_pool_client(UserPoolId=pool, ClientName="web", GenerateSecret=False,
                                     ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
idp.admin_create_user(UserPoolId=pool, Username="alice", TemporaryPassword="Temp-Passw0rd!", MessageAction="SUPPRESS")
idp.admin_set_user_password(UserPoolId=pool, Username="alice", Password="Corr3ct-Horse!", Permanent=True)
idp.create_group(GroupName="subscribers", UserPoolId=pool)
idp.admin_add_user_to_group(UserPoolId=pool, Username="alice", GroupName="subscribers")
auth = idp.initiate_auth(ClientId=client, AuthFlow="USER_PASSWORD_AUTH",
                         AuthParameters={"USERNAME": "alice", "PASSWORD": "Corr3ct-Horse!"})["AuthenticationResult"]
print(json.dumps({
    "pool_id": pool,
    "client_id": client,
    "access_token": auth["AccessToken"],
    "id_token": auth["IdToken"],
    "issuer": f"https://cognito-idp.us-east-1.amazonaws.com/{pool}",
    "jwks_url": f"{endpoint}/{pool}/.well-known/jwks.json",
}))
