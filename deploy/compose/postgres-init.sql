-- One database per service, as on CloudNativePG.
CREATE DATABASE gridlink_intake;
CREATE DATABASE gridlink_dispatch;
CREATE DATABASE gridlink_mediation;
CREATE DATABASE gridlink_volunteer;
CREATE DATABASE gridlink_notification;
CREATE DATABASE gridlink_console;
