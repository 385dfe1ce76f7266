// s3rver ships no type declarations; the test fixture uses only its constructor, run() and close().
declare module 's3rver' {
  const S3rver: unknown;
  export default S3rver;
}
