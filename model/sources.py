"""The pinned packages the corpus is built from (see model/DATA.md): PyPI, npm and Debian Go/Rust source
packages. Each name is pinned to a version; licenses are read from the packages themselves."""

# PyPI: name==version (wheels preferred, sdist fallback). Licenses are checked, not assumed.
PYPI = """
    attrs==26.1.0 six==1.17.0 urllib3==2.8.0 pyyaml==6.0.3 toml==0.10.2 tomli==2.5.0 tomli-w==1.2.0
    tomlkit==0.15.2 cachetools==8.0.1 tenacity==9.2.1 wrapt==2.5.2 decorator==5.3.1 more-itertools==11.2.1
    boltons==26.2.0 sortedcontainers==2.4.0 networkx==3.6.1 sympy==1.14.0 mpmath==1.4.1 pygments==2.21.0
    rich==15.0.0 typer==0.29.2 httpx==0.28.1 httpcore==1.0.9 anyio==4.16.0 sniffio==1.3.1 h11==0.16.0
    starlette==1.10.0 fastapi==0.165.0 pydantic==2.14.3 pydantic-settings==2.16.3 marshmallow==4.4.0
    jinja2==3.1.6 markupsafe==3.0.4 werkzeug==3.1.9 flask==3.1.3 itsdangerous==2.2.0 blinker==1.9.0
    pyparsing==3.3.3 pytz==2026.6 python-dateutil==4.0.0 arrow==1.4.0 humanize==4.17.0 babel==2.18.0
    charset-normalizer==3.5.2 idna==3.20 packaging==26.3 setuptools==84.2.1 wheel==0.48.0 pip==26.3
    virtualenv==21.15.8 filelock==4.2.12 platformdirs==4.14.7 distlib==0.4.4 pluggy==1.7.0 pytest==9.2.0
    iniconfig==2.3.1 coverage==7.17.3 mock==5.2.0 tox==4.67.15 nox==2026.10.20 black==26.10.1 isort==9.0.2
    flake8==7.5.0 pyflakes==4.1.0 pycodestyle==2.15.0 mccabe==0.7.0 autopep8==2.3.2 yapf==0.43.0 mypy==2.4.1
    mypy-extensions==1.2.0 typing-extensions==4.16.0 typing-inspect==0.9.0 jedi==0.20.1 parso==0.8.7
    prompt-toolkit==3.0.53 ipython==9.18.1 traitlets==5.16.1 jupyter-core==5.9.1 nbformat==5.11.1 pexpect==4.9.0
    ptyprocess==0.7.0 wcwidth==0.9.4 colorama==0.4.6 termcolor==3.3.0 tabulate==0.10.0 texttable==1.7.2
    prettytable==3.18.0 aiohttp==3.14.5 yarl==1.25.1 multidict==7.2.1 frozenlist==1.8.0 aiosignal==1.4.0
    async-timeout==5.0.1 aiofiles==25.1.0 websockets==17.4 wsproto==1.3.2 trio==0.35.0 outcome==1.3.0.post0
    exceptiongroup==1.3.1 tornado==6.6.1 twisted==26.10.0 sqlalchemy==2.1.9 alembic==1.20.1 mako==1.4.3
    peewee==4.5.3 pymysql==1.2.4 redis==8.1.0 pika==1.4.4 kombu==5.7.0 celery==5.7.0 amqp==5.4.2 vine==5.1.0
    billiard==4.3.2 rq==3.0.0 schedule==1.2.2 apscheduler==3.11.3 croniter==7.0.0 python-slugify==9.2.0
    inflection==0.5.1 inflect==7.6.0 jsonschema==4.26.0 referencing==0.37.0 jsonpointer==3.12 jsonpatch==1.47
    jmespath==1.1.0 boto3==1.44.5 botocore==1.44.5 s3transfer==0.19.3 google-auth==2.62.2 protobuf==7.36.2
    cryptography==50.0.2 pyopenssl==26.4.0 pyasn1==0.6.5 rsa==4.9.1 oauthlib==4.0.1 pyjwt==2.15.1 passlib==1.7.4
    fabric==3.2.3 invoke==3.0.3 pyserial==3.5 psutil==7.2.2 python-dotenv==1.2.4 environs==15.2.0
    dynaconf==3.3.5 configobj==5.0.9 beautifulsoup4==4.15.0 soupsieve==4.1.2 html5lib==1.1 webencodings==0.6.1
    bleach==6.4.0 markdown==3.11.3 mistune==3.4.0 markdown-it-py==4.3.0 mdurl==0.1.2 commonmark==0.9.2
    feedparser==6.0.14 openpyxl==3.1.5 xlrd==2.0.2 xlsxwriter==3.3.1 et-xmlfile==2.0.0 numpy==2.4.6
    pandas==3.1.1 scikit-learn==1.9.1 matplotlib==3.11.2 seaborn==0.13.2 statsmodels==0.15.0 patsy==1.0.3
    joblib==1.6.0 threadpoolctl==3.8.0 dask==2026.8.0 cloudpickle==3.1.2 fsspec==2026.9.0 partd==1.4.2
    locket==1.0.0 xarray==2026.9.0 pydot==4.0.1 graphviz==0.21 jsonpickle==4.1.4 dill==0.4.1
    multiprocess==0.70.19 deepdiff==9.1.0 glom==25.12.0 face==26.0.1 pyrsistent==0.20.0 munch==4.0.0
    addict==2.4.0 cattrs==26.2.1 dataclasses-json==0.6.7 cbor2==6.3.0 msgpack==1.2.4 construct==2.10.70
    bitstring==5.0.0 pefile==2024.8.26 docopt==0.6.2 fire==0.7.1 plumbum==2.0.2 sh==2.4.0 cmd2==4.3.1
    argcomplete==3.7.2 configargparse==1.9.0 alive-progress==3.3.0 progressbar2==4.6.0 halo==0.0.30
    yaspin==3.5.1 loguru==0.7.3 structlog==26.1.0 colorlog==6.12.0 coloredlogs==15.0.1 humanfriendly==10.0
    python-json-logger==4.2.0 sentry-sdk==2.75.0 opentelemetry-api==1.45.2 prometheus-client==0.26.0
    statsd==4.0.1 bottle==0.13.4 falcon==4.4.0 sanic==25.12.1 quart==0.22.0 hypercorn==0.18.0 uvicorn==0.54.0
    gunicorn==27.0.1 django==5.2.19 djangorestframework==3.18.3 django-filter==26.2 channels==4.3.2
    asgiref==3.13.0 sqlparse==0.6.1 graphene==3.4.3 graphql-core==3.3.2 cerberus==1.3.8 voluptuous==0.16.0
    schema==0.7.8 typeguard==4.6.0 beartype==0.23.1 libcst==1.9.0 astor==0.8.1 asttokens==3.0.2 executing==2.3.0
    pure-eval==0.2.4 stack-data==0.6.3 icecream==2.2.0 pysnooper==1.2.3 pympler==1.1 intervaltree==3.2.1
    geopy==2.5.0 pint==0.25.3 uncertainties==3.2.3 pyglet==2.1.19 asciimatics==1.15.0 blessed==1.52.0
    textual==8.2.8 sqlmodel==0.0.50 pymongo==4.20.0 elasticsearch==9.5.1 kafka-python==3.0.12 pyftpdlib==2.2.0
    dnspython==2.9.2 netaddr==1.3.0 httplib2==0.32.1 selenium==4.52.0 scrapy==2.19.0 parsel==1.12.1 w3lib==2.5.0
    itemadapter==0.13.1 cssselect==1.6.0 tinycss2==1.5.1 pdfminer-six==20260107 pypdf==7.1.0 python-docx==1.2.0
    python-pptx==1.0.2 xmltodict==1.0.4 defusedxml==0.7.1 ruamel-yaml==0.19.1 strictyaml==1.7.3 hjson==3.1.0
    json5==0.17.3 python-magic==0.4.27 filetype==1.2.0 ftfy==6.3.1 parse==1.22.4 nltk==3.10.4 emoji==2.16.0
    langdetect==1.0.9 validators==0.36.0 shortuuid==1.0.13 hashids==1.3.1 base58==2.1.1 ecdsa==0.19.2
    pynacl==1.6.2 authlib==1.9.9 python-jose==3.5.0 hvac==2.4.0 keyring==25.7.0 zipp==4.1.2
    importlib-metadata==10.2.0 importlib-resources==7.1.0 watchdog==7.1.0 distro==1.9.0 appdirs==1.4.4
    pipx==1.18.4 pdm==2.29.4 poetry-core==2.5.0 hatchling==1.33.0 flit-core==4.2.0 build==1.6.1
    pyproject-hooks==1.3.3 installer==1.1.0 twine==7.0.0 pkginfo==2.0 readme-renderer==46.0 rfc3986==2.0.0
    cachecontrol==0.14.4 semver==3.1.1 pip-tools==7.6.2 pipdeptree==4.2.14 cookiecutter==2.7.1
    binaryornot==0.6.0 copier==9.19.1 doit==0.37.0 luigi==3.8.1 snakemake==9.27.1 sphinx==9.0.4 alabaster==1.0.0
    sphinx-rtd-theme==3.1.0 myst-parser==5.2.0 mkdocs==1.6.1 numpydoc==1.11.0 pyee==13.0.1 transitions==0.9.3
    automat==25.4.16 hyperlink==21.0.0 incremental==24.11.0 constantly==23.10.4 service-identity==26.1.0
    pyhamcrest==2.1.0 freezegun==1.5.5 time-machine==3.6.0 responses==0.26.3 vcrpy==9.4.2 factory-boy==3.3.3
    pytest-mock==3.17.0 pytest-cov==7.1.0 pytest-xdist==3.8.0 execnet==2.1.2 testfixtures==12.4.0
    parameterized==0.9.0 nose2==0.16.0 behave==1.3.3 robotframework==7.5 locust==2.47.0 backoff==2.2.1
    retrying==1.4.2 limits==5.8.0 pybreaker==1.4.1 diskcache==5.6.3 dogpile-cache==1.5.0 cachelib==0.17.0
    flask-caching==2.5.1 flask-sqlalchemy==3.1.1 flask-login==0.6.3 flask-wtf==1.3.0 wtforms==3.3.2
    flask-cors==6.0.5 flask-restful==0.3.10 flask-migrate==4.1.0 marshmallow-sqlalchemy==1.6.0 webargs==8.7.1
    apispec==6.10.1 python-multipart==0.0.34 icalendar==7.3.0 dateparser==1.5.0 parsedatetime==2.6
    tzlocal==5.4.5 iso8601==2.1.0 isodate==0.7.2 webcolors==25.10.0 pyfiglet==1.0.4 treelib==1.8.0
    anytree==2.13.0 funcy==2.1 returns==0.30.0 pydash==8.1.0 jsonpath-ng==1.16.0 dpath==2.2.0 ordered-set==4.1.0
    furl==2.1.4 tldextract==5.4.0 uritemplate==4.2.0 jsonmerge==1.9.2 genson==1.4.0 chevron==0.14.0
    pystache==0.6.8 sortedcollections==2.1.0 h2==4.4.1 hpack==4.2.0 hyperframe==6.1.0 priority==2.0.0
    brotli==1.2.1 zstandard==0.25.0 lz4==4.4.5 python-snappy==0.7.3 cffi==2.1.1 pycparser==3.12 ply==3.11
    lark==1.3.1 sly==0.5 pyjsparser==2.7.1 esprima==4.0.1 regex==2026.11.15 tinydb==4.9.0 pickleshare==0.7.5
    shellingham==1.5.4 questionary==2.1.1 inquirer==3.4.1 pyperclip==1.11.0 tzdata==2026.6 pytest-asyncio==1.5.0
    pytest-timeout==2.4.0 hypothesis==6.170.15
""".split()

# npm: name@version tarballs (`npm pack`).
NPM = """
    lodash@4.18.1 lodash-es@4.18.1 express@5.3.0 body-parser@2.4.0 debug@4.4.3 ms@2.1.3 chalk@5.6.2
    commander@14.0.3 yargs@18.2.0 yargs-parser@22.0.0 minimist@1.2.8 semver@7.8.6 glob@14.0.6 minimatch@11.0.9
    rimraf@6.1.4 mkdirp@3.0.1 fs-extra@11.4.1 graceful-fs@4.2.12 uuid@14.0.3 moment@2.31.0 dayjs@1.11.23
    date-fns@4.4.0 zod@4.6.7 rxjs@7.8.2 immer@11.2.10 redux@5.0.1 preact@11.2.0 axios@1.21.1 node-fetch@3.3.2
    got@14.6.6 ky@1.14.3 undici@7.30.2 ws@8.23.0 socket.io@4.8.4 koa@3.3.0 @koa/router@15.7.0 fastify@5.12.8
    hono@4.13.19 acorn@8.19.0 esprima@4.0.1 estraverse@5.3.0 @babel/core@7.29.13 @babel/traverse@7.29.14
    @babel/types@7.29.14 @babel/generator@7.29.14 postcss@8.5.33 autoprefixer@10.6.2 cheerio@1.2.0
    htmlparser2@12.0.0 domhandler@6.0.1 js-yaml@5.5.0 yaml@2.9.1 marked@18.2.1 markdown-it@15.0.3
    highlight.js@11.12.0 prismjs@1.30.0 handlebars@4.7.10 mustache@4.2.0 ejs@7.0.2 nunjucks@3.2.4 async@3.2.6
    bluebird@3.7.2 p-limit@7.3.3 p-queue@9.3.5 eventemitter3@5.0.4 ramda@0.32.0 underscore@1.13.8
    immutable@5.2.1 mobx@7.1.3 zustand@5.1.0 jotai@2.20.3 react-router@7.18.5 @tanstack/query-core@5.108.0
    @tanstack/react-query@5.108.0 @tanstack/react-table@9.3.1 @tanstack/react-router@1.170.46 mocha@12.0.3
    chai@6.3.0 sinon@22.1.0 supertest@7.3.2 nock@15.0.2 ajv@8.20.0 joi@18.3.2 yup@1.7.1 class-validator@0.15.1
    class-transformer@0.5.1 inversify@8.2.3 typeorm@1.1.1 sequelize@6.37.8 knex@3.3.0 mongoose@9.12.1 pg@8.23.1
    mysql2@3.24.6 redis@6.3.1 ioredis@6.0.0 bull@4.16.5 amqplib@2.3.1 jsonwebtoken@9.0.3 bcryptjs@3.0.3
    passport@0.7.0 helmet@8.3.0 cors@2.8.6 morgan@1.12.1 compression@1.8.2 cookie-parser@1.4.7 multer@2.5.0
    formidable@3.5.4 busboy@1.6.0 qs@6.17.1 path-to-regexp@9.0.0 inquirer@14.2.5 ora@9.4.1 execa@9.6.1
    cross-spawn@7.0.6 which@6.0.1 shelljs@0.10.0 chokidar@5.0.0 picomatch@4.0.7 micromatch@4.0.8 fast-glob@3.3.3
    globby@16.2.4 ignore@7.0.16 dotenv@18.0.10 cosmiconfig@9.0.2 ini@6.0.0 nconf@0.13.0 convict@6.2.5
    winston@3.19.0 pino@10.4.0 loglevel@1.9.2 kleur@4.1.5 picocolors@1.1.1 ansi-styles@6.2.3 strip-ansi@7.2.0
    string-width@8.3.0 wrap-ansi@10.0.2 cli-table3@0.6.5 boxen@8.0.1 three@0.187.0 d3-array@3.2.5 d3-scale@4.0.3
    d3-shape@3.2.1 d3-selection@3.0.1 chart.js@4.6.1 leaflet@1.9.4 matter-js@0.20.0 graphql@16.15.0
    @trpc/server@11.25.2 drizzle-orm@0.45.4 kysely@0.28.18 io-ts@2.2.22 fp-ts@2.16.11 effect@4.1.0
    ts-pattern@5.9.2 neverthrow@8.2.0 tslib@2.9.1 reflect-metadata@0.2.2 svelte@5.57.3 solid-js@1.9.19 lit@3.3.3
    lit-html@3.3.3 @vue/reactivity@3.5.45 @vue/runtime-core@3.5.45 pinia@4.1.0 vuex@4.1.0 webpack@5.112.2
    terser@5.51.2 uglify-js@3.19.3 clean-css@5.3.3 less@4.9.1 browserslist@4.29.6 source-map@0.8.0
    magic-string@1.4.5 estree-walker@3.0.3 recast@0.23.21 jscodeshift@17.4.0 ts-morph@28.0.0
    @typescript-eslint/typescript-estree@8.73.0 @typescript-eslint/utils@8.73.0 eslint@10.15.0 espree@11.2.0
    ts-node@10.9.2 nodemon@3.1.14 concurrently@9.2.5 superstruct@2.0.2 valibot@1.5.0 tsyringe@4.10.0
    typedi@0.10.0 routing-controllers@0.11.3 @nestjs/core@12.5.1 @nestjs/common@12.5.1 @reduxjs/toolkit@2.14.0
    react-redux@9.3.1 react-hot-toast@2.6.1 react-hook-form@7.92.0 formik@2.4.9 swr@2.5.1 vitest@4.1.12
    jest-diff@30.5.2 pretty-format@30.5.1 diff@9.0.0 jsdiff@1.1.1 fuse.js@7.5.0 lru-cache@11.5.3 quick-lru@7.3.0
    nanoid@5.1.16 clsx@2.1.1 classnames@2.5.1 date-fns-tz@3.2.0 luxon@3.7.2
    @tiptap/react@3.34.0 @tanstack/react-form@1.33.5 @tanstack/react-query-devtools@5.107.1
""".split()

# Debian bookworm Go source packages: name=version.
DEBIAN_GO = """
    golang-github-spf13-cobra-dev=1.6.1-1 golang-github-spf13-pflag-dev=1.0.6~git20210604-d5e0c0615ace-1
    golang-github-spf13-viper-dev=1.10.1-1 golang-github-spf13-afero-dev=1.9.3-1
    golang-github-spf13-cast-dev=1.5.0-2 golang-github-stretchr-testify-dev=1.8.1-1
    golang-github-pkg-errors-dev=0.9.1-2 golang-github-sirupsen-logrus-dev=1.9.0-1
    golang-github-gorilla-mux-dev=1.8.0-1 golang-github-gorilla-websocket-dev=1.5.0-2
    golang-github-gorilla-handlers-dev=1.5.1-3 golang-github-google-uuid-dev=1.3.0-1
    golang-github-google-go-cmp-dev=0.5.9-1 golang-golang-x-net-dev=1:0.7.0+dfsg-1
    golang-golang-x-sys-dev=0.3.0-1 golang-golang-x-text-dev=0.7.0-1 golang-golang-x-tools-dev=1:0.5.0+ds-1
    golang-golang-x-crypto-dev=1:0.4.0-1 golang-golang-x-sync-dev=0.1.0-1 golang-golang-x-oauth2-dev=0.3.0-1
    golang-golang-x-term-dev=0.3.0-1 golang-golang-x-mod-dev=0.7.0-1 golang-golang-x-time-dev=0.3.0-1
    golang-golang-x-exp-dev=0.0~git20221028.83b7d23-2 golang-github-prometheus-client-golang-dev=1.14.0-3
    golang-github-prometheus-common-dev=0.39.0-2 golang-github-prometheus-procfs-dev=0.8.0-3
    golang-google-grpc-dev=1.33.3-2 golang-google-protobuf-dev=1.28.1-3
    golang-github-burntsushi-toml-dev=1.2.0-2 golang-gopkg-yaml.v3-dev=3.0.1-3 golang-gopkg-yaml.v2-dev=2.4.0-4
    golang-github-mattn-go-isatty-dev=0.0.17-1 golang-github-mattn-go-colorable-dev=0.1.13-1
    golang-github-mattn-go-runewidth-dev=0.0.14-1 golang-github-fatih-color-dev=1.7.0-1
    golang-github-urfave-cli-dev=1.22.9-2 golang-github-urfave-cli-v2-dev=2.3.0-2
    golang-github-go-chi-chi-dev=5.0.7-1 golang-github-gin-gonic-gin-dev=1.8.1-1
    golang-github-labstack-echo-dev=4.2.1-3 golang-github-klauspost-compress-dev=1.15.12+ds1-3
    golang-github-golang-snappy-dev=0.0.2-3 golang-github-davecgh-go-spew-dev=1.1.1-3
    golang-github-pmezard-go-difflib-dev=1.0.0-3 golang-github-json-iterator-go-dev=1.1.12-1
    golang-github-mitchellh-mapstructure-dev=1.5.0-2 golang-github-fsnotify-fsnotify-dev=1.6.0-2
    golang-github-magiconair-properties-dev=1.8.7-1 golang-github-pelletier-go-toml-dev=1.9.4-1
    golang-github-pelletier-go-toml.v2-dev=2.0.6-1 golang-github-lib-pq-dev=1.10.7-2
    golang-github-jmoiron-sqlx-dev=1.3.5-1 golang-github-mattn-go-sqlite3-dev=1.14.16~ds1-1
    golang-github-rs-zerolog-dev=1.26.1-2 golang-go.uber-zap-dev=1.23.0-1 golang-go.uber-atomic-dev=1.10.0-2
    golang-go.uber-multierr-dev=1.6.0-1 golang-github-cespare-xxhash-dev=2.1.1-2
    golang-github-dustin-go-humanize-dev=1.0.0-3 golang-github-olekukonko-tablewriter-dev=0.0.5-2
    golang-github-charmbracelet-bubbletea-dev=0.19.1-3 golang-github-charmbracelet-lipgloss-dev=0.5.0-1
    golang-github-charmbracelet-bubbles-dev=0.14.0-2 golang-github-muesli-termenv-dev=0.13.0-2
    golang-github-jessevdk-go-flags-dev=1.4.0-6 golang-github-sergi-go-diff-dev=1.2.0-2
    golang-github-yuin-goldmark-dev=1.5.4-1 golang-github-alecthomas-chroma-dev=0.10.0-3
    golang-github-alecthomas-chroma-v2-dev=2.5.0-1 golang-github-tidwall-gjson-dev=1.14.4-2
    golang-github-valyala-fasthttp-dev=1:1.31.0-4 golang-github-go-playground-validator-v10-dev=10.4.1-4
    golang-github-robfig-cron-dev=3.0.1-1 golang-github-kr-pretty-dev=0.3.0-1
    golang-github-gdamore-tcell.v2-dev=2.5.4-1 golang-github-rivo-tview-dev=0.0~git20221029.c4a7e50-1
    golang-github-miekg-dns-dev=1.1.50-2 golang-github-vishvananda-netlink-dev=1.1.0.125.gf243826-4
    golang-github-coreos-go-systemd-dev=22.3.2-1 golang-github-gobwas-glob-dev=0.2.3+git20180208.19c076c-2
    golang-github-google-btree-dev=1.0.0-1 golang-github-hashicorp-golang-lru-dev=0.5.4-2
    golang-github-blang-semver-dev=4.0.0-1 golang-github-masterminds-semver-dev=3.2.0-1
    golang-github-cenkalti-backoff-dev=4.1.3-1 golang-github-benbjohnson-clock-dev=1.3.0-1
    golang-github-go-logr-logr-dev=1.2.3-1 golang-github-gogo-protobuf-dev=1.3.2-3
    golang-github-golang-groupcache-dev=0.0~git20200121.8c9f03a-2
    golang-github-google-go-querystring-dev=1.1.0-2 golang-github-google-shlex-dev=0.0~git20191202.e7afc7f-1
    golang-github-kballard-go-shellquote-dev=0.0~git20180428.95032a8-2
    golang-github-mitchellh-go-homedir-dev=1.1.0-1 golang-github-gomodule-redigo-dev=1:1.8.3-1
    golang-github-minio-minio-go-v7-dev=7.0.46-1 golang-github-julienschmidt-httprouter-dev=1.3.0-2
    golang-github-gorilla-schema-dev=1.2.0-2 golang-github-gorilla-sessions-dev=1.2.1-1
    golang-github-gorilla-securecookie-dev=1.1.1-2 golang-github-dgrijalva-jwt-go-dev=3.2.0-4
    golang-github-golang-jwt-jwt-dev=4.4.3-1 golang-github-bmatcuk-doublestar-dev=2.0.4-2
    golang-github-otiai10-copy-dev=1.2.0-3 golang-github-cheggaaa-pb.v3-dev=3.1.0-1
    golang-github-briandowns-spinner-dev=1.18.1+ds1-1
    golang-github-andybalholm-cascadia-dev=0.0~git20161224.0.349dd02-1.1
    golang-github-puerkitobio-goquery-dev=1.1.0+git20170324.3.ed7d758-1.1
    golang-github-xeipuuv-gojsonschema-dev=1.2.0-3 golang-github-evanphx-json-patch-dev=5.2.0-2
    golang-github-imdario-mergo-dev=0.3.12-1 golang-github-antlr-antlr4-dev=4.11.1+ds-2
    golang-github-go-git-go-git-dev=5.4.2-3 golang-github-src-d-gcfg-dev=1.4.0-3
    golang-github-emirpasic-gods-dev=1.12.0-2 golang-github-deckarep-golang-set-dev=1.5-2
    golang-github-patrickmn-go-cache-dev=2.1.0-1.1 golang-github-vmihailenco-msgpack.v5-dev=5.3.5-2
    golang-github-ugorji-go-codec-dev=1.2.8-1 golang-github-tinylib-msgp-dev=1.1.6-1
    golang-github-pierrec-lz4-dev=2.5.2-2 golang-github-ulikunitz-xz-dev=0.5.6-2
    golang-github-kr-text-dev=0.2.0-2 golang-github-rogpeppe-go-internal-dev=1.9.0-1
    golang-github-google-go-github-dev=48.1.0-2 golang-github-shirou-gopsutil-dev=3.22.10-1
    golang-github-containerd-containerd-dev=1.6.20~ds1-1+deb12u3
""".split()

# Debian bookworm Rust crate packages: name=version.
DEBIAN_RUST = """
    librust-serde-dev=1.0.152-2 librust-serde-json-dev=1.0.87-1 librust-serde-derive-dev=1.0.152-1
    librust-syn-dev=1.0.107-1 librust-quote-dev=1.0.21-1 librust-proc-macro2-dev=1.0.47-1
    librust-regex-dev=1.7.1-1 librust-regex-syntax-dev=0.6.27-1 librust-regex-automata-dev=0.1.8-2
    librust-aho-corasick-dev=0.7.19-1 librust-memchr-dev=2.5.0-1 librust-rand-dev=0.8.5-1
    librust-rand-core-dev=0.6.3-2 librust-rand-chacha-dev=0.3.1-2 librust-tokio-dev=1.24.2-1
    librust-tokio-util-dev=0.7.3-2 librust-tokio-macros-dev=1.7.0-1 librust-futures-dev=0.3.21-1
    librust-futures-util-dev=0.3.21-1 librust-futures-core-dev=0.3.21-1 librust-futures-channel-dev=0.3.21-1
    librust-bytes-dev=1.2.1-1 librust-hyper-dev=0.14.19-1 librust-http-dev=0.2.7-1 librust-httparse-dev=1.8.0-1
    librust-log-dev=0.4.17-3 librust-env-logger-dev=0.9.3-1 librust-clap-dev=4.0.32-1
    librust-clap-derive-dev=4.0.21-1 librust-clap-lex-dev=0.3.0-1 librust-anyhow-dev=1.0.69-1
    librust-thiserror-dev=1.0.38-1 librust-thiserror-impl-dev=1.0.38-1 librust-itertools-dev=0.10.3-1
    librust-rayon-dev=1.6.1-1 librust-rayon-core-dev=1.10.1-1 librust-crossbeam-channel-dev=0.5.6-1
    librust-crossbeam-utils-dev=0.8.12-1 librust-crossbeam-deque-dev=0.8.1-1
    librust-crossbeam-epoch-dev=0.9.13-1 librust-parking-lot-dev=0.12.1-1 librust-parking-lot-core-dev=0.9.3-1
    librust-lock-api-dev=0.4.9-1 librust-once-cell-dev=1.17.0-1 librust-lazy-static-dev=1.4.0-2
    librust-libc-dev=0.2.139-1 librust-nix-dev=0.26.1-3 librust-chrono-dev=0.4.23-2
    librust-time-dev=0.3.9-1+deb12u1 librust-uuid-dev=1.2.1-1 librust-url-dev=2.3.1-1
    librust-percent-encoding-dev=2.2.0-1 librust-idna-dev=0.3.0-1 librust-smallvec-dev=1.9.0-1
    librust-hashbrown-dev=0.12.3-1 librust-indexmap-dev=1.9.2-1 librust-either-dev=1.6.1-1
    librust-bitflags-dev=1.3.2-3 librust-num-traits-dev=0.2.15-1 librust-num-bigint-dev=0.4.3-2
    librust-num-integer-dev=0.1.44-1 librust-num-rational-dev=0.4.1-2 librust-num-complex-dev=0.4.0-2
    librust-base64-dev=0.13.0-1 librust-hex-dev=0.4.3-1+b2 librust-sha2-dev=0.10.5-1 librust-sha1-dev=0.10.1-1
    librust-digest-dev=0.10.5-2 librust-md-5-dev=0.10.1-1 librust-toml-dev=0.5.11-1
    librust-toml-edit-dev=0.14.4-2 librust-walkdir-dev=2.3.2-1 librust-glob-dev=0.3.0-1
    librust-globset-dev=0.4.9-1 librust-ignore-dev=0.4.18-2+b1 librust-tempfile-dev=3.3.0-1
    librust-unicode-width-dev=0.1.10-1 librust-unicode-segmentation-dev=1.9.0-1 librust-nom-dev=7.1.1-1
    librust-pest-dev=2.5.2-1 librust-pest-derive-dev=2.5.2-1 librust-pest-generator-dev=2.5.2-1
    librust-tracing-dev=0.1.37-1 librust-tracing-core-dev=0.1.30-1 librust-tracing-subscriber-dev=0.3.16-2
    librust-tracing-attributes-dev=0.1.23-1 librust-mio-dev=0.8.4-1 librust-socket2-dev=0.4.4-1
    librust-tower-dev=0.4.13-2 librust-tower-service-dev=0.3.2-1+b1 librust-http-body-dev=0.4.5-1
    librust-h2-dev=0.3.13-2 librust-rustls-dev=0.20.8-4 librust-webpki-dev=0.22.0-1 librust-flate2-dev=1.0.25-1
    librust-miniz-oxide-dev=0.6.2-1 librust-bstr-dev=0.2.17-1+b1 librust-csv-dev=1.1.6-1
    librust-csv-core-dev=0.1.6-1 librust-serde-yaml-dev=0.8.26-1 librust-semver-dev=1.0.14-1
    librust-petgraph-dev=0.6.2-1 librust-strsim-dev=0.10.0-1 librust-textwrap-dev=0.16.0-2
    librust-termcolor-dev=1.1.2-1 librust-atty-dev=0.2.14-2 librust-dirs-dev=4.0.0-1
    librust-dirs-sys-dev=0.3.7-1 librust-same-file-dev=1.0.6-1 librust-fnv-dev=1.0.7-1 librust-ahash-dev=0.7.6-7
    librust-siphasher-dev=0.3.10-1 librust-byteorder-dev=1.4.3-2 librust-arrayvec-dev=0.7.2-2
    librust-phf-dev=0.10.1-2 librust-phf-shared-dev=0.10.0-2 librust-heck-dev=0.4.0-1 librust-ryu-dev=1.0.2-1
    librust-itoa-dev=1.0.1-2 librust-unicode-normalization-dev=0.1.22-1 librust-unicode-bidi-dev=0.3.8-2
    librust-tinyvec-dev=1.6.0-2 librust-getrandom-dev=0.2.8-1 librust-cfg-if-dev=1.0.0-1
    librust-scopeguard-dev=1.1.0-1 librust-slab-dev=0.4.4-1+b1 librust-pin-project-dev=1.0.10-1
    librust-pin-project-lite-dev=0.2.9-1 librust-async-trait-dev=0.1.56-1 librust-futures-io-dev=0.3.21-1
    librust-memmap2-dev=0.5.7-1 librust-indicatif-dev=0.17.3-2 librust-console-dev=0.15.2-2
    librust-dialoguer-dev=0.10.2-1 librust-structopt-dev=0.3.26-2 librust-ansi-term-dev=0.12.1-1
    librust-colored-dev=2.0.0-1 librust-crc32fast-dev=1.3.2-2 librust-adler-dev=1.0.2-2
    librust-zstd-dev=0.12.1-1 librust-sha3-dev=0.10.2-1 librust-hmac-dev=0.12.1-1 librust-pbkdf2-dev=0.11.0-1
    librust-base32-dev=0.4.0-1+b1 librust-quick-xml-dev=0.26.0-3 librust-xml-rs-dev=0.8.3-1+b5
    librust-html5ever-dev=0.26.0-1 librust-markup5ever-dev=0.11.0-1 librust-pulldown-cmark-dev=0.9.2-1+b2
    librust-tera-dev=1.17.1-1 librust-serde-urlencoded-dev=0.7.1-1 librust-mime-dev=0.3.16-1
    librust-mime-guess-dev=2.0.4-2 librust-reqwest-dev=0.11.13-1 librust-ureq-dev=2.6.2-3
    librust-tokio-stream-dev=0.1.9-1 librust-async-std-dev=1.12.0-12 librust-smol-dev=1.3.0-3
    librust-async-channel-dev=1.8.0-3 librust-event-listener-dev=2.5.3-3 librust-polling-dev=2.2.0-1+b1
    librust-rustix-dev=0.35.12-1 librust-linux-raw-sys-dev=0.0.46-3 librust-signal-hook-dev=0.3.14-1
    librust-notify-dev=5.0.0-1 librust-crossterm-dev=0.25.0-2 librust-termion-dev=1.5.6-1
    librust-tui-dev=0.19.0-1 librust-similar-dev=2.2.1-1 librust-diff-dev=0.1.12-1
    librust-tree-sitter-dev=0.20.9-2 librust-git2-dev=0.16.0-1 librust-yansi-dev=0.5.1-1
    librust-fancy-regex-dev=0.7.1-1 librust-onig-dev=6.3.2-1 librust-bit-set-dev=0.5.2-1
    librust-bit-vec-dev=0.6.3-1 librust-fixedbitset-dev=0.4.2-1 librust-rustc-hash-dev=1.1.0-1
    librust-dashmap-dev=5.4.0-1 librust-arc-swap-dev=1.5.1-1 librust-rusqlite-dev=0.28.0-4
    librust-tokio-postgres-dev=0.7.7-2 librust-prost-dev=0.11.6-2 librust-prost-types-dev=0.11.6-2
    librust-bincode-dev=1.3.3-1 librust-rmp-serde-dev=1.1.1-1 librust-serde-cbor-dev=0.11.2-1
    librust-ron-dev=0.7.1-1 librust-combine-dev=4.6.6-3 librust-lalrpop-util-dev=0.19.8-1
    librust-codespan-reporting-dev=0.11.1-2 librust-proptest-dev=1.0.0-1 librust-quickcheck-dev=1.0.3-2
    librust-criterion-dev=0.3.6-4 librust-insta-dev=1.21.0-1 librust-pretty-assertions-dev=1.3.0-1
    librust-assert-cmd-dev=2.0.7-2 librust-predicates-dev=2.1.4-1
""".split()
