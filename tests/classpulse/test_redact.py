"""One rule hides the password of every URL ClassPulse prints: databases and camera streams."""

from __future__ import annotations

import pytest

from classpulse.redact import hide_password


@pytest.mark.parametrize(("url", "shown"), [
    ("rtsp://admin:s3cret@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
    ("postgresql+psycopg://app:pw@db:5432/classpulse", "postgresql+psycopg://app:***@db:5432/classpulse"),
    ("rtsp://u:p@ss@cam:554/h264?channel=1", "rtsp://u:***@cam:554/h264?channel=1"),  # @ in it
    ("postgresql://app@db/classpulse", "postgresql://app@db/classpulse"),  # no password
    ("rtsp://10.0.0.5/live", "rtsp://10.0.0.5/live"),
    ("rtsp://cam/path/a@b", "rtsp://cam/path/a@b"),  # an @ in the path, no credentials
    ("/videos/a:b@c.mp4", "/videos/a:b@c.mp4"),  # a file
    ("sqlite:///classpulse.db", "sqlite:///classpulse.db"),
    ("synthetic:classroom:1", "synthetic:classroom:1"),
    # mistyped stream URLs carry the password too
    ("rstp://admin:s3cret@10.0.0.5/live", "rstp://admin:***@10.0.0.5/live"),
    ("rtsp:/admin:s3cret@10.0.0.5/live", "rtsp:/admin:***@10.0.0.5/live"),
    ("rtsp:admin:s3cret@10.0.0.5/live", "rtsp:admin:***@10.0.0.5/live"),
    # a password in the query string (libpq and SQLAlchemy take one there), any case or encoding
    ("postgresql+psycopg://reader@db/classpulse?password=s3cret",
     "postgresql+psycopg://reader@db/classpulse?password=***"),
    ("postgresql+psycopg://reader@db/classpulse?sslmode=require&PassWord=s3cret&connect_timeout=5",
     "postgresql+psycopg://reader@db/classpulse?sslmode=require&PassWord=***&connect_timeout=5"),
    ("postgresql+psycopg://reader@db/c?pass%77ord=s3cret", "postgresql+psycopg://reader@db/c?pass%77ord=***"),
    ("postgresql+psycopg://reader@db:5432/c?password=p@ss", "postgresql+psycopg://reader@db:5432/c?password=***"),
    ("postgresql+psycopg://reader@db/c?password=s3cret#x", "postgresql+psycopg://reader@db/c?password=***"),
    ("postgresql://app:pw@db/c?sslpassword=s3cret&sslkey=/k.pem",
     "postgresql://app:***@db/c?sslpassword=***&sslkey=/k.pem"),
    ("rtsp://10.0.0.5/live?user=admin&password=s3cret", "rtsp://10.0.0.5/live?user=admin&password=***"),
    # files named in the query are not secrets
    ("postgresql+psycopg://reader@db/c?passfile=/run/pg.pass&sslrootcert=/ca.pem",
     "postgresql+psycopg://reader@db/c?passfile=/run/pg.pass&sslrootcert=/ca.pem"),
    # cameras' and web streams' own names for a password, a token or a key
    ("http://cam/videostream.cgi?user=admin&pwd=s3cret", "http://cam/videostream.cgi?user=admin&pwd=***"),
    ("http://cam/v.cgi?user=admin&PASS=s3cret&res=1", "http://cam/v.cgi?user=admin&PASS=***&res=1"),
    ("http://cam/v.cgi?passwd=s3cret", "http://cam/v.cgi?passwd=***"),
    ("https://cam/live.m3u8?token=s3cret", "https://cam/live.m3u8?token=***"),
    ("https://cam/live?access_token=s3cret&fmt=mjpeg", "https://cam/live?access_token=***&fmt=mjpeg"),
    ("https://cam/live?secret=s3cret", "https://cam/live?secret=***"),
    ("https://cam/live?client_secret=s3cret", "https://cam/live?client_secret=***"),
    ("https://cam/live?api_key=s3cret&apikey=s3cret", "https://cam/live?api_key=***&apikey=***"),
    ("https://cam/live?Api-Key=s3cret", "https://cam/live?Api-Key=***"),
    ("rtsp://cam/live?auth=s3cret&channel=1", "rtsp://cam/live?auth=***&channel=1"),
    ("http://cam/v.cgi?p%77d=s3cret&to%6Ben=s3cret", "http://cam/v.cgi?p%77d=***&to%6Ben=***"),
    ("http://cam/v.cgi?user=a&pw=s3cret&key=s3cret", "http://cam/v.cgi?user=a&pw=***&key=***"),
    # signed URLs: an Azure SAS signature, S3's presigned signature and credential
    ("https://acct.blob.core.windows.net/c/v.mp4?sv=2022&sig=s3cret",
     "https://acct.blob.core.windows.net/c/v.mp4?sv=2022&sig=***"),
    ("https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=s3cret&X-Amz-Expires=60",
     "https://b.s3.amazonaws.com/v.mp4?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60"),
    # look-alike names that are no secret stay readable
    ("https://cam/live?passfile=/p&sslkey=/k.pem&keyframe=1&author=me",
     "https://cam/live?passfile=/p&sslkey=/k.pem&keyframe=1&author=me"),
    # a database URL mistyped (one slash, no scheme) and libpq keyword/value strings
    ("postgresql:/alice:s3cret@db/cp", "postgresql:/alice:***@db/cp"),
    ("alice:s3cret@db/cp", "alice:***@db/cp"),
    ("postgresql//alice:s3cret@db/cp", "postgresql//alice:***@db/cp"),
    ("host=db password=s3cret", "host=db password=***"),
    ("host=db user=alice  password = 's3cret \\'x' dbname=cp",
     "host=db user=alice  password = *** dbname=cp"),
    ("PASSWORD=s3cret host=db sslpassword='s3cret' passfile=/p sslkey=/k",
     "PASSWORD=*** host=db sslpassword=*** passfile=/p sslkey=/k"),
    ("password='s3cret", "password=***"),  # an unclosed quote: hidden to the end
    # a URL after spaces or quotes, more slashes, a user name holding a slash, several URLs
    ("rtsp:////admin:s3cret@cam/x", "rtsp:////admin:***@cam/x"),
    (" rtsp://admin:s3cret@cam/x", " rtsp://admin:***@cam/x"),
    ('"rtsp://admin:s3cret@cam/x"', '"rtsp://admin:***@cam/x"'),
    ("rtsp://ad/min:s3cret@cam/x", "rtsp://***@cam/x"),
    ("rtsp://admin:s3/cret@cam/x", "rtsp://admin:***@cam/x"),
    ("camera rtsp://admin:s3cret@cam/x, proxy http://p/?u=rtsp://u:s3cret@c2",
     "camera rtsp://admin:***@cam/x, proxy http://p/?u=rtsp://u:***@c2"),
    # secrets in the path, after a `;`, and the camera makers' own names
    ("rtsp://cam:554/user=admin&password=s3cret&channel=1&stream=0.sdp",
     "rtsp://cam:554/user=admin&password=***&channel=1&stream=0.sdp"),
    ("rtsp://cam/x;password=s3cret", "rtsp://cam/x;password=***"),
    ("rtsp://cam/x;user=admin;password=s3cret;channel=1",
     "rtsp://cam/x;user=admin;password=***;channel=1"),
    ("http://cam/videostream.cgi?loginuse=admin&loginpas=s3cret",
     "http://cam/videostream.cgi?loginuse=admin&loginpas=***"),
    ("http://cam/cgi?usr=admin&usrPwd=s3cret", "http://cam/cgi?usr=admin&usrPwd=***"),
    # DVRs' own forms: XMeye/Xiongmai pairs joined by `_` in the path, snapshot CGIs' `psw=`
    # and `p=`, a passcode, a base64 `user:password` after `authbasic=`; the harmless values
    # around them stay readable
    ("rtsp://192.168.1.10/user=admin_password=tlJwpbo6_channel=1_stream=0.sdp",
     "rtsp://192.168.1.10/user=admin_password=***_channel=1_stream=0.sdp"),
    # a password holding `=` after another character ends at no pair but one after `/`, `_`,
    # `&`, `;` or `?` (the first version showed `$s=Word1` and `-cret=QX/stream`)
    ("rtsp://dvr/user=admin_password=Pa$s=Word1_channel=1", "rtsp://dvr/user=admin_password=***"
     "_channel=1"),
    ("rtsp://cam/password=se-cret=QX/stream", "rtsp://cam/password=***"),
    # a secret's name inside a password ends its value at the credentials' `@` (the value ran
    # past it, and the password was shown)
    ("postgresql+psycopg://classpulse:Summer2024!p=x$s=y@db:5432/classpulse",
     "postgresql+psycopg://classpulse:***@db:5432/classpulse"),
    ("rtsp://admin:Kx9!pwd=7-cret=4@10.0.0.5:554/Streaming/Channels/101",
     "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101"),
    # ... also with a `#` in it, and without skipping the secrets after it (the first mend
    # showed `sig=TOPSECRET`, `token=TOPSECRET`)
    ("rtsp://admin:Su!p=x#2024@10.0.0.7/live", "rtsp://admin:***@10.0.0.7/live"),
    ("https://cam:ab;key=1@cam.example/snap.jpg?sig=TOPSECRET&res=1",
     "https://cam:***@cam.example/snap.jpg?sig=***&res=1"),
    ("rtsp://admin:Su&p=1@10.0.0.7/live/token=TOPSECRET",
     "rtsp://admin:***@10.0.0.7/live/token=***"),
    # a log line: a URL without a path, then a password holding `@` (its end was shown, and the
    # URL's host hidden); a libpq password after a URL, holding `/x=`, ends as libpq reads it
    # (its tail was shown, and every keyword after it hidden)
    ("camera rtsp://admin:pw@10.0.0.7:554 failed; retry with password=Admin@123",
     "camera rtsp://admin:***@10.0.0.7:554 failed; retry with password=***"),
    ("rtsp://admin:pw@10.0.0.7/Channels/101; db host=db password='e/Zv+UMfArFz/drMbjunCV2k=' "
     "dbname=cp", "rtsp://admin:***@10.0.0.7/Channels/101; db host=db password=*** dbname=cp"),
    # an `@` in an XMeye path password is the password's, not the end of credentials
    ("rtsp://dvr/user=admin_password=a@b_channel=1_stream=0.sdp",
     "rtsp://dvr/user=admin_password=***_stream=0.sdp"),
    ("rtsp://192.168.1.10:554/user=admin_password=s3cret_channel=1_stream=0.sdp?real_stream",
     "rtsp://192.168.1.10:554/user=admin_password=***_channel=1_stream=0.sdp?real_stream"),
    ("http://cam/snapshot.cgi?user=admin&psw=S3cret", "http://cam/snapshot.cgi?user=admin&psw=***"),
    ("http://cam/snap.jpg?u=admin&p=s3cret&channel=1", "http://cam/snap.jpg?u=admin&p=***&channel=1"),
    ("http://cam/img?passcode=s3cret&stream=0", "http://cam/img?passcode=***&stream=0"),
    ("http://cam/snap.cgi?authbasic=YWRtaW46czNjcmV0", "http://cam/snap.cgi?authbasic=***"),
    ("http://cam/snap.cgi/authbasic=YWRtaW46czNjcmV0/chn=1", "http://cam/snap.cgi/authbasic=***/chn=1"),
    ("rtmp://live/app?stream_key=s3cret&channel_id=1", "rtmp://live/app?stream_key=***&channel_id=1"),
    ("postgresql://app:s3cret@db/cp?require_auth=scram-sha-256",
     "postgresql://app:***@db/cp?require_auth=scram-sha-256"),
    ("rtsp://cam/user=admin/pwd=s3cret/channel=1", "rtsp://cam/user=admin/pwd=***/channel=1"),
    # a base64 secret ends at the next real pair, not at its own padding or a `/` inside it
    ("http://cam/snap?auth=czNj/cmV0=&channel=1", "http://cam/snap?auth=***&channel=1"),
    ("https://cam/live?token=czNj/cmV0==", "https://cam/live?token=***"),
    # a query password ends at the next `&` or `;` pair only, whatever it holds
    ("http://cam/v?password=s3c_r/et=x&res=1", "http://cam/v?password=***&res=1"),
    # a password holding `&` or `;` is hidden whole, up to the next `key=`
    ("http://cam/v?password=s3c&r;et&res=1", "http://cam/v?password=***&res=1"),
    # a password holding `scheme://` is no second URL (it was shown whole)
    ("postgresql://u:ab://cd@h/db", "postgresql://u:***@h/db"),
    ("postgresql+psycopg://app:x/s3cret://y@db:5432/cp", "postgresql+psycopg://app:***@db:5432/cp"),
    ("rtsp://admin:p@ss://s3cret@cam/x", "rtsp://admin:***@cam/x"),
    ("rtsp://admin://s3cret@cam/x", "rtsp://***@cam/x"),  # the password `//s3cret`
    ("alice:ab://s3cret@db/cp", "alice:***@db/cp"),
    ("db postgresql://u:ab://s3cret@h/db, proxy http://p/?u=rtsp://u:s3cret@c2",
     "db postgresql://u:***@h/db, proxy http://p/?u=rtsp://u:***@c2"),
    ("C:\\videos\\a@b.mp4", "C:\\videos\\a@b.mp4"),  # a Windows path, not a URL
    ("/videos/password=1.mp4", "/videos/password=1.mp4"),  # a file, not keyword/value
])
def test_only_the_password_is_hidden(url: str, shown: str) -> None:
    assert hide_password(url) == shown
    assert "s3cret" not in hide_password(url) and ":pw@" not in hide_password(url)
    assert "ss@" not in hide_password(url) and "p@ss" not in hide_password(url)
