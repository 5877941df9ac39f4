"""A loopback stand-in for Cloud Tasks' gRPC API, so the reference's Google Cloud function can be measured offline.

Not a benchmark (``run_all.py`` skips files whose name starts with ``_``); ``cold_start.py`` starts it, in the Google
Cloud interpreter (grpcio, google-cloud-tasks and cryptography), with ``python _cloud_tasks_stand_in.py FOLDER``,
and stops it by process group.

Cloud Tasks has no emulator, and the reference builds ``tasks_v2.CloudTasksClient()`` with its defaults: gRPC over
TLS to ``cloudtasks.googleapis.com:443``. Nothing of the reference is changed to reach this stand-in; the measured
process is pointed at it by environment only, as gRPC documents:

- ``grpc_proxy=http://127.0.0.1:PROXY`` -- gRPC opens its connection through an HTTP CONNECT proxy named by
  ``grpc_proxy`` (``https_proxy``, ``http_proxy``), except for the hosts ``no_grpc_proxy`` lists
  (https://github.com/grpc/grpc/blob/master/doc/environment_variables.md); the emulators, on 127.0.0.1, are listed.
  The proxy here accepts ``CONNECT cloudtasks.googleapis.com:443`` only (anything else: 403, never a connection out)
  and joins the tunnel to the gRPC server below;
- ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=FOLDER/ca.pem`` -- the roots gRPC trusts: a certificate authority made here, at
  run time, for this run only, which signed the server's certificate for ``cloudtasks.googleapis.com``. The TLS
  handshake, the host name check and the HTTP/2 call are the client's own.

The gRPC server implements ``google.cloud.tasks.v2.CloudTasks/CreateTask`` only: it requires the ``authorization``
metadata the client sends (the throwaway service-account key's self-signed JWT: no token endpoint is called) and a
``parent`` queue, and answers the task named ``<parent>/tasks/<n>`` as Cloud Tasks does; every other method is
UNIMPLEMENTED. It prints ``ready PROXY_PORT`` on its first line once both listen.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import socket
import sys
import threading
from concurrent import futures
from pathlib import Path
from typing import Any

#: The host the client library calls (``CloudTasksClient.DEFAULT_ENDPOINT``).
TASKS_HOST = "cloudtasks.googleapis.com"


def _certificates(folder: Path) -> tuple[bytes, bytes]:
    """A throwaway CA (written to ``folder/ca.pem``) and, signed by it, a key and certificate for
    :data:`TASKS_HOST`; returns (key PEM, certificate PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("cold-start bench CA"))
        .issuer_name(name("cold-start bench CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(TASKS_HOST))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(TASKS_HOST)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _grpc_server(key_pem: bytes, cert_pem: bytes) -> tuple[Any, int]:
    import grpc
    from google.cloud import tasks_v2

    counter = itertools.count(1)

    def create_task(request: Any, context: Any) -> Any:
        metadata = dict(context.invocation_metadata())
        if not str(metadata.get("authorization", "")).startswith("Bearer "):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no bearer token")
        if not request.parent:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no parent queue")
        task = tasks_v2.Task(request.task)
        task.name = f"{request.parent}/tasks/{next(counter)}"
        return task

    handler = grpc.method_handlers_generic_handler(
        "google.cloud.tasks.v2.CloudTasks",
        {
            "CreateTask": grpc.unary_unary_rpc_method_handler(
                create_task,
                request_deserializer=tasks_v2.CreateTaskRequest.deserialize,
                response_serializer=tasks_v2.Task.serialize,
            )
        },
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    server.start()
    return server, port


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def _tunnel(client: socket.socket, grpc_port: int) -> None:
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 8192:
        chunk = client.recv(4096)
        if not chunk:
            client.close()
            return
        head += chunk
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    if request_line.split()[:2] != ["CONNECT", f"{TASKS_HOST}:443"]:
        client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        client.close()
        return
    upstream = socket.create_connection(("127.0.0.1", grpc_port))
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    rest = head.split(b"\r\n\r\n", 1)[1]
    if rest:
        upstream.sendall(rest)
    threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
    _pipe(client, upstream)


def main(folder: str) -> None:
    """Serve until killed (see the module docstring)."""
    key_pem, cert_pem = _certificates(Path(folder))
    _server, grpc_port = _grpc_server(key_pem, cert_pem)  # kept referenced: serving until the process is killed
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"ready {listener.getsockname()[1]}", flush=True)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_tunnel, args=(client, grpc_port), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1])
