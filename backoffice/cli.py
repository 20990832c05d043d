"""The ``appeals`` console script: run, serve, migrate, create staff, seed the demo city, NLP tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from aiohttp import web

from bot import warmup
from bot.channels import webchat
from bot.channels.credentials import CredentialError, create_api_key, create_peer
from intents import cli as intents_cli
from intents import hot_cli
from intents.extract import mask_pii
from storage import db
from storage.accounts import AccountError, create_staff, ensure_admin, generate_password, hash_password
from storage.deadlines import ensure_default_policies
from storage.labels import ROLE
from storage.lifecycle import STAFF_ROLES, Role
from storage.models import AuditEntry, Staff, StaffSession
from storage.seed import DemoDataError, is_seeded, seed_demo
from storage.settings import Settings, SettingsError, parse_workers
from storage.training import export_decisions

from . import metrics
from . import workers as worker_processes
from .app import create_app

log = logging.getLogger("appeals")


def _run(coro_fn: Callable[[], Awaitable[int]]) -> int:
    return asyncio.run(coro_fn())


async def _with_db(settings: Settings, body: Callable[[], Awaitable[int]]) -> int:
    await db.init(settings.database_url)
    try:
        return await body()
    finally:
        await db.close()


def _banner(settings: Settings, admin_line: str) -> Callable[[str], None]:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    url = f"http://{host}:{settings.port}"

    def show(_message: str) -> None:
        print(f"\n群众诉求办理平台已启动 / Citizen Appeals Platform is running: {url}", flush=True)
        print(f"  群众网页留言 Web chat:   {url}/chat", flush=True)
        print(f"  工作人员后台 Back-office: {url}/login", flush=True)
        print(f"  {admin_line}", flush=True)
        print("  按 Ctrl+C 停止 / press Ctrl+C to stop\n", flush=True)

    return show


def _serve(settings: Settings, admin_line: str, workers: int | None = None) -> int:
    """Serve in this process, as a supervisor's worker on the socket it handed down, or supervise ``workers``."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    inherited = worker_processes.inherited_socket()
    count = settings.workers if workers is None else workers
    if inherited is None and count > 1:
        try:
            sock = worker_processes.listen(settings.host, settings.port)
        except OSError as exc:
            print(f"无法监听 {settings.host}:{settings.port} / cannot listen there: {exc}", file=sys.stderr)
            return 2
        _banner(settings, admin_line)("")
        print(f"  {count} 个工作进程共用此端口 / {count} worker processes share this port", flush=True)
        command = [sys.executable, "-m", "backoffice.cli", "serve"]
        return worker_processes.Supervisor(sock, count, command).run()
    worker = worker_processes.index()  # worker 0 (or a lone process) runs the city's background work
    app = create_app(settings, background=worker == 0, worker=worker)
    app.on_startup.append(_warm_up)
    if inherited is not None:
        logging.getLogger().handlers[0].setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s [worker {worker}] %(name)s: %(message)s"))
        worker_processes.supervised(app)
        shared = worker_processes.shared_counters()
        if shared is not None:  # a scrape reaches any worker: each reports the sum of them all
            metrics.share(app, metrics.SharedCounters(shared, worker, count, app[webchat.BOT].engine.stats))
        web.run_app(app, sock=inherited, print=None, shutdown_timeout=worker_processes.SHUTDOWN_TIMEOUT)
    else:
        web.run_app(app, host=settings.host, port=settings.port, print=_banner(settings, admin_line),
                    shutdown_timeout=worker_processes.SHUTDOWN_TIMEOUT)
    return 0


async def _warm_up(app: web.Application) -> None:
    """Load the NLP parts before the first citizen, then freeze the heap.

    Awaited at start-up, so the process accepts connections only once warm (a second or two): with several
    workers on one port, the others serve meanwhile, and no citizen's first message waits for a dictionary.
    """
    await warmup.warm_up(app[webchat.BOT])


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema."""
    settings: Settings = args.settings
    asyncio.run(db.migrate(settings.database_url, target=args.target))
    print(f"数据库已是最新结构 / database schema is up to date ({_safe_url(settings)})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the platform on an already migrated database."""
    settings: Settings = args.settings
    accounts = "登录账号见首次启动时的输出 / log in with the accounts printed at first start"
    return _serve(settings, accounts, args.workers)


def cmd_run(args: argparse.Namespace) -> int:
    """Migrate, create the first admin and the demo city on first start, then serve."""
    settings: Settings = args.settings
    asyncio.run(db.migrate(settings.database_url))

    async def prepare() -> int:
        await ensure_default_policies()
        admin = await ensure_admin(settings.admin_password)
        password = settings.admin_password or admin.generated_password
        if not await is_seeded() and not args.no_demo:
            print("首次启动：正在创建演示城市“江澜市”… / first start: creating the demo city…", flush=True)
            if password is None:  # the admin came earlier: the demo accounts get their own password
                password = generate_password()
                print(f"  演示账号密码（只显示这一次）/ demo accounts' password (shown once): {password}", flush=True)
            report = await seed_demo(password, cases=args.demo_cases)
            print(f"  {report.units} 个单位, {report.cases} 件诉求, {len(report.staff)} 个演示账号"
                  f" / units, cases, demo accounts", flush=True)
            shown, roles_seen = [], set()
            for username, roles, unit in report.staff:  # one account of every role (unit heads included)
                if roles not in roles_seen:
                    roles_seen.add(roles)
                    shown.append((username, roles, unit))
            for username, roles, unit in shown:
                print(f"    {username:<20} {roles:<12} {unit}", flush=True)
            if len(report.staff) > len(shown):
                print(f"    …… 另有 {len(report.staff) - len(shown)} 个（其他单位的同类账号，见 管理 → 账号）"
                      f" / {len(report.staff) - len(shown)} more of these roles in other units: Admin → Staff",
                      flush=True)
        if admin.generated_password:
            args.admin_line = (f"管理员 admin 的初始密码（只显示这一次）/ admin's first password (shown once): "
                               f"{admin.generated_password}  — 演示账号使用同一密码 / demo accounts share it")
        elif settings.admin_password:
            args.admin_line = "管理员 admin，密码为 APPEALS_ADMIN_PASSWORD / admin, password: APPEALS_ADMIN_PASSWORD"
        else:
            args.admin_line = (f"管理员 {admin.username}：密码在首次启动时显示；忘记可运行 appeals set-password "
                               f"{admin.username} / password was shown at first start")
        return 0

    _run(lambda: _with_db(settings, prepare))
    return _serve(settings, args.admin_line, args.workers)


def _new_password(args: argparse.Namespace) -> str:
    """Read the password from stdin (--password-stdin) or generate one."""
    return sys.stdin.readline().rstrip("\n") if args.password_stdin else generate_password()


def _show_generated(args: argparse.Namespace, label: str, password: str) -> None:
    """Print a generated password once; one read from stdin is never echoed."""
    if not args.password_stdin:
        print(f"{label}（只显示这一次）/ (shown once): {password}")


def cmd_create_staff(args: argparse.Namespace) -> int:
    """Create a staff account; the password comes from stdin or is generated and printed once."""
    settings: Settings = args.settings
    password = _new_password(args)

    async def body() -> int:
        await create_staff(args.username, password, [Role(r) for r in args.role], args.name or "", args.unit)
        print(f"已创建账号 / created: {args.username} ({', '.join(args.role)})")
        _show_generated(args, "初始密码 / first password", password)
        return 0

    return _run(lambda: _with_db(settings, body))


def cmd_set_password(args: argparse.Namespace) -> int:
    """Set a new password for a staff account and end its sessions (password from stdin, or generated)."""
    settings: Settings = args.settings
    password = _new_password(args)

    async def body() -> int:
        staff = await Staff.get_or_none(username=args.username)
        if staff is None:
            print(f"没有这个账号 / no such account: {args.username}", file=sys.stderr)
            return 2
        await Staff.filter(id=staff.id).update(password_hash=hash_password(password), failed_logins=0,
                                                locked_until=None)
        await StaffSession.filter(staff_id=staff.id).delete()  # signed-in browsers must log in again
        await AuditEntry.create(staff=staff, action="password_set_cli", target=staff.username)
        print(f"已设置新密码 / password set for {args.username}")
        _show_generated(args, "新密码 / new password", password)
        return 0

    return _run(lambda: _with_db(settings, body))


def cmd_reset_2fa(args: argparse.Namespace) -> int:
    """Remove a staff member's TOTP second factor (the way back for the last admin who lost the phone)."""
    settings: Settings = args.settings

    async def body() -> int:
        from . import totp

        staff = await Staff.get_or_none(username=args.username)
        if staff is None:
            print(f"没有这个账号 / no such account: {args.username}", file=sys.stderr)
            return 2
        await totp.reset(staff, None, action="totp_reset_cli")
        await StaffSession.filter(staff_id=staff.id).delete()
        print(f"已重置两步验证，下次登录时重新绑定 / second factor removed for {args.username}; "
              "they enrol again at the next login")
        return 0

    return _run(lambda: _with_db(settings, body))


def cmd_seed_demo(args: argparse.Namespace) -> int:
    """Create the demo city on an empty database."""
    settings: Settings = args.settings
    asyncio.run(db.migrate(settings.database_url))
    password = settings.admin_password or generate_password()

    async def body() -> int:
        await ensure_default_policies()
        report = await seed_demo(password, cases=args.cases)
        admin = await ensure_admin(password)
        if admin.created:
            report.staff.insert(0, (admin.username, "admin", ""))
        print(f"演示城市已创建 / demo city created: {report.units} units, {report.catalogue} catalogue rules, "
              f"{report.cases} cases")
        for username, roles, unit in report.staff:
            print(f"  {username:<22} {roles:<12} {unit}")
        if not settings.admin_password:
            print(f"演示账号密码（只显示这一次）/ demo accounts' password (shown once): {password}")
        return 0

    return _run(lambda: _with_db(settings, body))


def cmd_export_decisions(args: argparse.Namespace) -> int:
    """Export staff's dispatch decisions for ``appeals train --corrections`` (logged, with a reason)."""
    settings: Settings = args.settings

    async def body() -> int:
        staff = await Staff.get_or_none(username=args.staff, active=True)
        if staff is None:
            print(f"没有这个工作人员账号 / no such active staff account: {args.staff}", file=sys.stderr)
            return 2
        n = await export_decisions(Path(args.out), staff.id, args.reason, args.only_corrections, mask=mask_pii)
        print(f"已导出 {n} 条派单决定 / exported {n} dispatch decisions to {args.out}")
        return 0

    return _run(lambda: _with_db(settings, body))


def _safe_url(settings: Settings) -> str:
    url = settings.database_url
    if "@" in url:  # never print a password that sits in the URL
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def cmd_create_api_key(args: argparse.Namespace) -> int:
    """Issue an Open311 API key and print it once (only its hash is stored)."""

    async def body() -> int:
        print(await create_api_key(args.name))
        return 0

    return _run(lambda: _with_db(args.settings, body))


def cmd_create_webhook_peer(args: argparse.Namespace) -> int:
    """Register a messenger-webhook peer and print its HMAC secret once."""

    async def body() -> int:
        print(await create_peer(args.name, args.callback, args.window))
        return 0

    return _run(lambda: _with_db(args.settings, body))


WORKERS_HELP = ("共用端口的服务进程数，1-64 或 auto（默认 APPEALS_WORKERS）/ server processes on the port, 1-64 or auto"
                " (default: APPEALS_WORKERS)")


def _worker_count(text: str) -> int:
    """Parse ``--workers`` as APPEALS_WORKERS is parsed."""
    try:
        return parse_workers(text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(f"须为 1-64 的数字或 auto / {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="appeals",
        description="群众诉求办理平台 / Citizen Appeals Platform. 设置见 README（环境变量 APPEALS_*）.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("run", help="迁移数据库、首次启动时创建演示城市，然后启动服务 / migrate, seed, serve")
    p.add_argument("--no-demo", action="store_true", help="不创建演示数据 / do not create the demo city")
    p.add_argument("--demo-cases", type=int, default=300, help="演示诉求件数 / number of demo cases (300)")
    p.add_argument("--workers", type=_worker_count, help=WORKERS_HELP)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("serve", help="启动服务（数据库须已迁移）/ serve on a migrated database")
    p.add_argument("--workers", type=_worker_count, help=WORKERS_HELP)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("migrate", help="创建或升级数据库结构 / create or upgrade the database schema")
    p.add_argument("--target", help="迁移到指定版本，如 appeals.0001_initial / migrate to a named migration")
    p.set_defaults(func=cmd_migrate)
    roles = sorted(r.value for r in STAFF_ROLES)
    p = sub.add_parser("create-staff", help="创建工作人员账号 / create a staff account",
                       description="角色 roles: " + ", ".join(f"{r}={ROLE[Role(r)][0]}" for r in roles))
    p.add_argument("username")
    p.add_argument("--role", action="append", required=True, choices=roles, help="可重复 / repeatable")
    p.add_argument("--unit", help="单位代码（承办人、单位负责人必填）/ unit code, needed by handlers and unit heads")
    p.add_argument("--name", help="显示名 / display name")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码 / read the password from stdin")
    p.set_defaults(func=cmd_create_staff)
    p = sub.add_parser("set-password", help="重设工作人员密码 / set a staff member's password")
    p.add_argument("username")
    p.add_argument("--password-stdin", action="store_true", help="从标准输入读取密码 / read the password from stdin")
    p.set_defaults(func=cmd_set_password)
    p = sub.add_parser("reset-2fa", help="重置工作人员的两步验证 / remove a staff member's TOTP second factor")
    p.add_argument("username")
    p.set_defaults(func=cmd_reset_2fa)
    p = sub.add_parser("seed-demo", help="在空数据库上创建演示城市 / create the demo city on an empty database")
    p.add_argument("--cases", type=int, default=300, help="诉求件数 / number of cases (300)")
    p.set_defaults(func=cmd_seed_demo)
    p = sub.add_parser("export-decisions",
                       help="导出派单员的最终分类作为训练数据 / export staff's dispatch decisions as training data")
    p.add_argument("--out", required=True, help="CSV 文件 / CSV file (title, body, label, suggested)")
    p.add_argument("--reason", required=True, help="导出理由（记入审计日志）/ reason, written to the audit log")
    p.add_argument("--staff", required=True, help="导出人账号（记入审计日志）/ your staff username, for the audit log")
    p.add_argument("--only-corrections", action="store_true", help="只导出改过分类的 / only changed categories")
    p.set_defaults(func=cmd_export_decisions)
    p = sub.add_parser("create-api-key", help="为 Open311 客户端签发 API key / issue an Open311 API key")
    p.add_argument("name", help="客户端名称 / client application name")
    p.set_defaults(func=cmd_create_api_key)
    p = sub.add_parser("create-webhook-peer", help="登记消息网关 / register a messenger-webhook peer")
    p.add_argument("name", help="网关名称（URL 的一部分）/ peer name, part of the URL")
    p.add_argument("--callback", default="", help="推送通知的回调地址 / callback URL for notices")
    p.add_argument("--window", type=int, default=300, help="防重放时间窗（秒）/ replay window in seconds (300)")
    p.set_defaults(func=cmd_create_webhook_peer)
    intents_cli.register(sub)
    hot_cli.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``appeals`` command line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"设置有误 / bad setting: {exc}", file=sys.stderr)
        return 2
    try:
        args.settings = settings
        return int(args.func(args) or 0)
    except (AccountError, DemoDataError, CredentialError) as exc:
        print(str(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
