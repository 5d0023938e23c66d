#!/bin/sh
# Start XNAT: lay out ${XNAT_ROOT} (a bind mount from the host), write the datasource
# configuration and prefs-init.ini, install the plugins, wait for PostgreSQL, run Tomcat.
set -eu
: "${XNAT_ROOT:=/data/xnat}" "${XNAT_HOME:=/data/xnat/home}"
: "${XNAT_SITE_ID:=XNAT}" "${XNAT_SITE_URL:=http://localhost:8080}" "${XNAT_ADMIN_EMAIL:=admin@example.org}"
: "${XNAT_DB_HOST:=xnat-db}" "${XNAT_DB_NAME:=xnat}" "${XNAT_DB_USER:=xnat}" "${XNAT_DB_PASSWORD:=xnat}"

mkdir -p "$XNAT_HOME/config" "$XNAT_HOME/logs" "$XNAT_HOME/plugins" "$XNAT_HOME/work" \
         "$XNAT_ROOT/archive" "$XNAT_ROOT/prearchive" "$XNAT_ROOT/cache" "$XNAT_ROOT/build" \
         "$XNAT_ROOT/ftp" "$XNAT_ROOT/pipeline" "$XNAT_ROOT/inbox"
cp /opt/xnat/plugins/*.jar "$XNAT_HOME/plugins/"

cat > "$XNAT_HOME/config/xnat-conf.properties" <<CONF
datasource.driver=org.postgresql.Driver
datasource.url=jdbc:postgresql://${XNAT_DB_HOST}/${XNAT_DB_NAME}
datasource.username=${XNAT_DB_USER}
datasource.password=${XNAT_DB_PASSWORD}
hibernate.dialect=org.hibernate.dialect.PostgreSQL9Dialect
hibernate.hbm2ddl.auto=update
hibernate.show_sql=false
hibernate.cache.use_second_level_cache=true
hibernate.cache.use_query_cache=true
spring.http.multipart.max-file-size=1073741824
spring.http.multipart.max-request-size=1073741824
CONF

sed -e "s|@SITE_ID@|${XNAT_SITE_ID}|" -e "s|@SITE_URL@|${XNAT_SITE_URL}|" \
    -e "s|@ADMIN_EMAIL@|${XNAT_ADMIN_EMAIL}|" /opt/xnat/prefs-init.ini \
    > "$XNAT_HOME/config/prefs-init.ini"

export PGPASSWORD="$XNAT_DB_PASSWORD"
until pg_isready -q -h "$XNAT_DB_HOST" -U "$XNAT_DB_USER" -d "$XNAT_DB_NAME"; do
    echo "waiting for PostgreSQL at $XNAT_DB_HOST/$XNAT_DB_NAME"
    sleep 2
done
exec catalina.sh run
