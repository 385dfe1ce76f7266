/**
 * AWS's public certificates for the instance identity document's PKCS7 signature
 * (`/latest/dynamic/instance-identity/pkcs7`, DSA with SHA-1).
 *
 * Source: "AWS public certificates for instance identity document signatures",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/regions-certs.html, the DSA
 * certificate that page lists for every commercial region except Hong Kong, Bahrain,
 * China and GovCloud (subject O=Amazon Web Services LLC, L=Seattle, valid 2012-01-05 to
 * 2038-01-05). Copied 2026-12-07; it matches the copy in the verification steps of
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/verify-pkcs7.html.
 * Regions with their own certificate are not shipped: an agent there refuses every peer
 * identity until their certificate is added here (fails closed).
 */
import { X509Certificate } from 'node:crypto';

export const AWS_IDENTITY_DSA_CERTIFICATE = `-----BEGIN CERTIFICATE-----
MIIC7TCCAq0CCQCWukjZ5V4aZzAJBgcqhkjOOAQDMFwxCzAJBgNVBAYTAlVTMRkw
FwYDVQQIExBXYXNoaW5ndG9uIFN0YXRlMRAwDgYDVQQHEwdTZWF0dGxlMSAwHgYD
VQQKExdBbWF6b24gV2ViIFNlcnZpY2VzIExMQzAeFw0xMjAxMDUxMjU2MTJaFw0z
ODAxMDUxMjU2MTJaMFwxCzAJBgNVBAYTAlVTMRkwFwYDVQQIExBXYXNoaW5ndG9u
IFN0YXRlMRAwDgYDVQQHEwdTZWF0dGxlMSAwHgYDVQQKExdBbWF6b24gV2ViIFNl
cnZpY2VzIExMQzCCAbcwggEsBgcqhkjOOAQBMIIBHwKBgQCjkvcS2bb1VQ4yt/5e
ih5OO6kK/n1Lzllr7D8ZwtQP8fOEpp5E2ng+D6Ud1Z1gYipr58Kj3nssSNpI6bX3
VyIQzK7wLclnd/YozqNNmgIyZecN7EglK9ITHJLP+x8FtUpt3QbyYXJdmVMegN6P
hviYt5JH/nYl4hh3Pa1HJdskgQIVALVJ3ER11+Ko4tP6nwvHwh6+ERYRAoGBAI1j
k+tkqMVHuAFcvAGKocTgsjJem6/5qomzJuKDmbJNu9Qxw3rAotXau8Qe+MBcJl/U
hhy1KHVpCGl9fueQ2s6IL0CaO/buycU1CiYQk40KNHCcHfNiZbdlx1E9rpUp7bnF
lRa2v1ntMX3caRVDdbtPEWmdxSCYsYFDk4mZrOLBA4GEAAKBgEbmeve5f8LIE/Gf
MNmP9CM5eovQOGx5ho8WqD+aTebs+k2tn92BBPqeZqpWRa5P/+jrdKml1qx4llHW
MXrs3IgIb6+hUIB+S8dz8/mmO0bpr76RoZVCXYab2CZedFut7qc3WUH9+EUAH5mw
vSeDCOUMYQR7R9LINYwouHIziqQYMAkGByqGSM44BAMDLwAwLAIUWXBlk40xTwSw
7HX32MxXYruse9ACFBNGmdX2ZBrVNGrN9N2f6ROk0k9K
-----END CERTIFICATE-----
`;

/** Regions whose pkcs7 signature uses a certificate not shipped here. */
const OWN_CERTIFICATE_REGION = /^(cn-|us-gov-|ap-east-1$|me-south-1$)/;

let parsed: X509Certificate | undefined;

/** The certificates trusted for `region`'s pkcs7 signatures (empty: none shipped for it). */
export function awsIdentityCertificates(region: string): X509Certificate[] {
  if (OWN_CERTIFICATE_REGION.test(region)) return [];
  parsed ??= new X509Certificate(AWS_IDENTITY_DSA_CERTIFICATE);
  return [parsed];
}
