/** `host:port`, with brackets around an IPv6 host, as gRPC targets and URLs need. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
