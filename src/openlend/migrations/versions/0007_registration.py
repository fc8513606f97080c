"""registration: SMS verification codes, versioned consent texts, consents

Revision ID: 0007
Revises: 0006

* ``verification_codes``: one row per code sent.  The code itself is never stored: ``code_hash`` is
  HMAC-SHA256 under the OTP key over (id, purpose, mobile, code).  Rows are kept after use: they
  are the rate limiter's memory (per number, per IP, the resend wait) and the audit trail.
* ``consent_texts``: each version of a consent text (the credit-inquiry authorisation, the
  personal-information consent under PIPL), immutable (a trigger refuses UPDATE and DELETE) and
  carrying its SHA-256, which a CHECK ties to the body, so the hash cannot disagree with the text.
* ``consents`` and ``consent_acceptances``: who accepted which versions (by their hash), when, from
  where, with which verified code.  Immutable too; a composite foreign key makes the recorded hash
  the text's own.
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CREDIT_INQUIRY_V1 = """征信查询授权书

本人不可撤销地授权本平台及其合作的金融机构，在本人申请借款、借款存续期间及贷后管理中，向中国人民银行征信中心金融信用信息基础数据库及依法设立的其他征信机构查询、打印、保存本人的信用报告，并按规定报送本人的信用信息。

查询用途限于：审核本人的借款申请、审核本人作为担保人的资格、对已发放的借款进行贷后风险管理。

本人知悉并理解，不良信用信息可能对本人的信用产生不利影响。本授权自本人点击同意之时起生效，至上述业务终结之日止。"""

PERSONAL_INFORMATION_V1 = """个人信息处理授权书

根据《中华人民共和国个人信息保护法》，本平台在向您提供借款服务的过程中，将处理您的以下个人信息：姓名、手机号码、身份证件号码、人脸图像、银行卡信息、设备信息及借款与还款记录。其中身份证件号码、人脸图像、银行卡信息属于敏感个人信息。

处理目的：身份核验、反欺诈、信用评估、合同签署、放款与还款、贷后管理及履行法定义务。

处理方式与期限：以加密方式存储，仅在实现上述目的所必需的期限内保存，法律法规另有规定的除外。

您可以依法查阅、复制、更正、删除您的个人信息，或撤回本授权；撤回不影响撤回前基于授权已进行的处理。联系方式见本平台隐私政策。

本人已阅读并理解上述内容，同意本平台按上述方式处理本人的个人信息（含敏感个人信息）。"""


def upgrade() -> None:
    from openlend.ids import new_id

    op.execute(r"""
    CREATE TABLE verification_codes (
        id              text        PRIMARY KEY CHECK (id LIKE 'vc\_%'),
        mobile          text        NOT NULL CHECK (mobile ~ '^\+861[3-9][0-9]{9}$'),
        purpose         text        NOT NULL CHECK (purpose IN ('registration', 'login', 'drawdown_confirmation')),
        code_hash       bytea       NOT NULL CHECK (length(code_hash) = 32),   -- HMAC-SHA256; never the code
        status          text        NOT NULL DEFAULT 'active'
                                    CHECK (status IN ('active', 'failed', 'superseded', 'verified', 'locked', 'consumed')),
        attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        max_attempts    integer     NOT NULL CHECK (max_attempts >= 1),
        client_ip       inet,
        sms_message_id  text,
        sms_status      text        CHECK (sms_status IN ('submitted', 'delivered', 'undeliverable', 'expired',
                                                          'rejected', 'unknown', 'failed')),
        livemode        boolean     NOT NULL,
        created_at      timestamptz NOT NULL,
        expires_at      timestamptz NOT NULL,
        resend_after    timestamptz NOT NULL,
        verified_at     timestamptz,
        consumed_at     timestamptz,
        CHECK (expires_at > created_at AND resend_after >= created_at),
        CHECK (attempts <= max_attempts),
        CHECK ((status IN ('verified', 'consumed')) = (verified_at IS NOT NULL)),
        CHECK ((status = 'consumed') = (consumed_at IS NOT NULL))
    );
    CREATE INDEX verification_codes_mobile ON verification_codes (livemode, mobile, created_at DESC);
    CREATE INDEX verification_codes_ip ON verification_codes (livemode, client_ip, created_at DESC)
        WHERE client_ip IS NOT NULL;
    CREATE INDEX verification_codes_sms ON verification_codes (sms_message_id) WHERE sms_message_id IS NOT NULL;
    COMMENT ON TABLE verification_codes IS
      'SMS one-time codes: only a keyed hash of the code is kept; rows stay as the rate limits'' memory';

    -- Consent texts: every version immutable, its SHA-256 bound to its body -----------------------
    CREATE TABLE consent_texts (
        id          text        PRIMARY KEY CHECK (id LIKE 'ctv\_%'),
        kind        text        NOT NULL CHECK (kind IN ('credit_inquiry_authorization', 'personal_information')),
        version     integer     NOT NULL CHECK (version >= 1),
        language    text        NOT NULL DEFAULT 'zh-CN',
        title       text        NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
        body        text        NOT NULL CHECK (length(body) BETWEEN 1 AND 100000),
        sha256      bytea       NOT NULL CHECK (sha256 = sha256(convert_to(body, 'UTF8'))),
        created_at  timestamptz NOT NULL DEFAULT now(),
        UNIQUE (kind, version),
        UNIQUE (id, sha256)
    );
    COMMENT ON TABLE consent_texts IS
      'Versions of the consent texts; immutable; sha256 = SHA-256 of the body in UTF-8';

    CREATE FUNCTION openlend_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% rows are immutable (% refused)', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'restrict_violation';
    END $$;
    CREATE TRIGGER consent_texts_immutable BEFORE UPDATE OR DELETE ON consent_texts
        FOR EACH ROW EXECUTE FUNCTION openlend_refuse_change();

    CREATE TABLE consents (
        id                    text        PRIMARY KEY CHECK (id LIKE 'cns\_%'),
        mobile                text        NOT NULL CHECK (mobile ~ '^\+861[3-9][0-9]{9}$'),
        verification_code_id  text        NOT NULL UNIQUE REFERENCES verification_codes (id),
        ip_address            inet,
        user_agent            text        CHECK (length(user_agent) <= 1000),
        device_id             text        CHECK (length(device_id) <= 200),
        accepted_at           timestamptz NOT NULL,
        livemode              boolean     NOT NULL
    );
    CREATE INDEX consents_mobile ON consents (livemode, mobile, id DESC);
    CREATE TABLE consent_acceptances (
        consent_id       text    NOT NULL REFERENCES consents (id),
        consent_text_id  text    NOT NULL,
        kind             text    NOT NULL,
        version          integer NOT NULL,
        text_sha256      bytea   NOT NULL,
        PRIMARY KEY (consent_id, consent_text_id),
        UNIQUE (consent_id, kind),
        FOREIGN KEY (consent_text_id, text_sha256) REFERENCES consent_texts (id, sha256)
    );
    CREATE TRIGGER consents_immutable BEFORE UPDATE OR DELETE ON consents
        FOR EACH ROW EXECUTE FUNCTION openlend_refuse_change();
    CREATE TRIGGER consent_acceptances_immutable BEFORE UPDATE OR DELETE ON consent_acceptances
        FOR EACH ROW EXECUTE FUNCTION openlend_refuse_change();
    COMMENT ON TABLE consents IS
      'A person''s acceptance of consent texts with a verified SMS code: when, IP, device; immutable';
    """)
    bind = op.get_bind()
    for kind, title, body in (("credit_inquiry_authorization", "征信查询授权书", CREDIT_INQUIRY_V1),
                              ("personal_information", "个人信息处理授权书", PERSONAL_INFORMATION_V1)):
        bind.exec_driver_sql(
            "INSERT INTO consent_texts (id, kind, version, title, body, sha256) "
            "VALUES (%(id)s, %(kind)s, 1, %(title)s, %(body)s, sha256(convert_to(%(body)s, 'UTF8')))",
            {"id": new_id("ctv"), "kind": kind, "title": title, "body": body})


def downgrade() -> None:
    op.execute("""
    DROP TABLE consent_acceptances;
    DROP TABLE consents;
    DROP TABLE consent_texts;
    DROP FUNCTION openlend_refuse_change();
    DROP TABLE verification_codes;
    """)
